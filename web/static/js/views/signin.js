// Sign in: e-mail, password, the TOTP code (asked for when the account has two-factor sign-in)
// or a recovery code, and "keep me signed in"; or one of the configured identity providers
// ("Sign in with Microsoft", ...). Back from a provider, the same form finishes what the
// provider could not: the account's password to confirm a link, or the account's second factor.
import * as api from '../api.js';
import { busy, checkbox, clearErrors, field, focusFirstError, h, setFieldError, setFormError } from '../dom.js';
import { errorText, t } from '../i18n.js';
import * as sso from '../sso.js';

export async function render(main, app) {
  const ticket = sso.pendingTicket();
  // `link`: an existing account confirms with its password; `factor`: only the second factor.
  const mode = !ticket ? 'password' : ticket.secondFactor ? 'factor' : 'link';
  let secondFactor = mode === 'factor';
  let useRecovery = false;
  const options = mode === 'password' ? await sso.options() : { providers: [], password_sign_in: true };

  const email = h('input', { type: 'email', id: 'email', name: 'email', autocomplete: 'username', required: true, spellcheck: 'false' });
  const password = h('input', { type: 'password', id: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const totp = h('input', { type: 'text', id: 'totp-code', name: 'totp_code', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9 ]*', maxlength: '8' });
  const recovery = h('input', { type: 'text', id: 'recovery-code', name: 'recovery_code', autocomplete: 'off', spellcheck: 'false' });
  const totpField = field(t('signin.totp'), totp, { hint: t('signin.totpHint') });
  const recoveryField = field(t('signin.recovery'), recovery, { hint: t('signin.recoveryHint') });
  const toggle = h('button', { type: 'button', class: 'link', id: 'use-recovery' }, t('signin.useRecovery'));
  const secondFactorBox = h('div', { class: 'second-factor', id: 'second-factor', hidden: !secondFactor },
    totpField, recoveryField, toggle);
  recoveryField.hidden = true;
  toggle.addEventListener('click', () => {
    useRecovery = !useRecovery;
    totpField.hidden = useRecovery;
    recoveryField.hidden = !useRecovery;
    toggle.textContent = useRecovery ? t('signin.useTotp') : t('signin.useRecovery');
    (useRecovery ? recovery : totp).focus();
  });

  const emailField = field(t('signin.email'), email);
  const passwordField = field(t('signin.password'), password);
  emailField.hidden = mode !== 'password';
  passwordField.hidden = mode === 'factor';
  const keep = checkbox('keep-signed-in', t('signin.keep'), false, { hint: t('signin.keepHint') });
  keep.hidden = mode !== 'password';
  const submit = h('button', { type: 'submit', id: 'sign-in', class: 'primary' },
    t(mode === 'link' ? 'signin.linkSubmit' : 'signin.submit'));
  const actions = h('div', { class: 'actions' }, submit);
  if (mode !== 'password') {
    actions.append(h('button', { type: 'button', class: 'secondary', id: 'sso-cancel', onclick: () => {
      sso.setPending(null);
      app.navigate('signin');
    } }, t('common.cancel')));
  }
  const form = h('form', { id: 'signin-form', novalidate: true, 'aria-labelledby': 'signin-title' },
    emailField, passwordField, secondFactorBox, keep, actions);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (mode === 'password' && !email.value.trim()) setFieldError('email', t('signin.emailMissing'));
    if (mode !== 'factor' && !password.value) setFieldError('password', t('signin.passwordMissing'));
    if (secondFactor && !useRecovery && !totp.value.trim()) setFieldError('totp-code', t('signin.totpMissing'));
    if (secondFactor && useRecovery && !recovery.value.trim()) setFieldError('recovery-code', t('signin.recoveryMissing'));
    if (focusFirstError(form)) return;
    const body = {};
    if (mode !== 'factor') body.password = password.value;
    if (secondFactor && !useRecovery) body.totp_code = totp.value.replace(/\s/g, '');
    if (secondFactor && useRecovery) body.recovery_code = recovery.value.trim();
    await busy(submit, async () => {
      try {
        if (mode === 'password') {
          await api.signIn({ ...body, email: email.value.trim(), keep_signed_in: document.getElementById('keep-signed-in').checked });
        } else {
          await sso.redeem(ticket, body);
        }
        password.value = '';
        await app.signedIn();
      } catch (error) {
        showError(error);
      }
    });
  });

  function showError(error) {
    switch (error.code) {
      case 'second_factor_required':
        secondFactor = true;
        secondFactorBox.hidden = false;
        setFieldError('totp-code', t('error.second_factor_required'));
        totp.focus();
        return;
      case 'invalid_second_factor':
        secondFactor = true;
        secondFactorBox.hidden = false;
        setFieldError(useRecovery ? 'recovery-code' : 'totp-code', errorText(error));
        break;
      case 'invalid_credentials':
      case 'missing_password':
        setFieldError('password', errorText(error));
        break;
      case 'invalid_email':
        setFieldError('email', errorText(error));
        break;
      default:
        if (!(error.field && setFieldError(error.field === 'password' ? 'password' : error.field, errorText(error)))) {
          setFormError(form, errorText(error));
        }
    }
    focusFirstError(form);
  }

  const lead = {
    password: t(options.password_sign_in ? 'signin.lead' : 'signin.ssoOnlyLead'),
    link: t('signin.linkLead', { provider: ticket ? ticket.name : '' }),
    factor: t('signin.factorLead', { provider: ticket ? ticket.name : '' }),
  }[mode];
  const card = h('section', { class: 'card narrow signin' },
    h('h1', { id: 'signin-title' }, t(mode === 'link' ? 'signin.linkTitle' : 'signin.title')),
    h('p', { class: 'lead', id: 'signin-lead' }, lead));
  if (options.providers.length) {
    const list = h('div', { class: 'sso-providers', id: 'sso-providers', role: 'group', 'aria-label': t('signin.ssoGroup') });
    for (const provider of options.providers) {
      list.append(h('button', {
        type: 'button',
        class: 'secondary sso',
        id: `sso-${provider.id}`,
        onclick: () => sso.start(provider.id, document.getElementById('keep-signed-in').checked),
      }, t('signin.ssoWith', { provider: provider.name })));
    }
    card.append(list, h('p', { class: 'divider', 'aria-hidden': 'true' }, h('span', {}, t('signin.or'))));
  }
  card.append(form);
  // There is no e-mail channel: a forgotten password is reset with a link from an administrator
  // (decisions #60), or not needed at all for an account that signs in with a provider.
  if (mode === 'password') {
    const names = options.providers.map((p) => p.name).join(', ');
    card.append(h('details', { class: 'forgot', id: 'forgot-password' },
      h('summary', { id: 'forgot-password-link' }, t('signin.forgot')),
      h('p', { id: 'forgot-password-admin' }, t('signin.forgotAdmin')),
      names ? h('p', { id: 'forgot-password-sso' }, t('signin.forgotSso', { providers: names })) : null));
  }
  main.append(card);
  if (mode === 'password') email.focus();
  else if (mode === 'link') password.focus();
  else totp.focus();
}
