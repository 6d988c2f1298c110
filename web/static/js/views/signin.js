// Sign in: e-mail, password, the TOTP code (asked for when the account has two-factor sign-in)
// or a recovery code, and "keep me signed in".
import * as api from '../api.js';
import { busy, checkbox, clearErrors, field, focusFirstError, h, setFieldError, setFormError } from '../dom.js';
import { errorText, t } from '../i18n.js';

export function render(main, app) {
  let secondFactor = false;
  let useRecovery = false;

  const email = h('input', { type: 'email', id: 'email', name: 'email', autocomplete: 'username', required: true, spellcheck: 'false' });
  const password = h('input', { type: 'password', id: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const totp = h('input', { type: 'text', id: 'totp-code', name: 'totp_code', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9 ]*', maxlength: '8' });
  const recovery = h('input', { type: 'text', id: 'recovery-code', name: 'recovery_code', autocomplete: 'off', spellcheck: 'false' });
  const totpField = field(t('signin.totp'), totp, { hint: t('signin.totpHint') });
  const recoveryField = field(t('signin.recovery'), recovery, { hint: t('signin.recoveryHint') });
  const toggle = h('button', { type: 'button', class: 'link', id: 'use-recovery' }, t('signin.useRecovery'));
  const secondFactorBox = h('div', { class: 'second-factor', id: 'second-factor', hidden: true },
    totpField, recoveryField, toggle);
  recoveryField.hidden = true;
  toggle.addEventListener('click', () => {
    useRecovery = !useRecovery;
    totpField.hidden = useRecovery;
    recoveryField.hidden = !useRecovery;
    toggle.textContent = useRecovery ? t('signin.useTotp') : t('signin.useRecovery');
    (useRecovery ? recovery : totp).focus();
  });

  const submit = h('button', { type: 'submit', id: 'sign-in', class: 'primary' }, t('signin.submit'));
  const form = h('form', { id: 'signin-form', novalidate: true, 'aria-labelledby': 'signin-title' },
    field(t('signin.email'), email),
    field(t('signin.password'), password),
    secondFactorBox,
    checkbox('keep-signed-in', t('signin.keep'), false, { hint: t('signin.keepHint') }),
    h('div', { class: 'actions' }, submit));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!email.value.trim()) setFieldError('email', t('signin.emailMissing'));
    if (!password.value) setFieldError('password', t('signin.passwordMissing'));
    if (secondFactor && !useRecovery && !totp.value.trim()) setFieldError('totp-code', t('signin.totpMissing'));
    if (secondFactor && useRecovery && !recovery.value.trim()) setFieldError('recovery-code', t('signin.recoveryMissing'));
    if (focusFirstError(form)) return;
    const body = {
      email: email.value.trim(),
      password: password.value,
      keep_signed_in: document.getElementById('keep-signed-in').checked,
    };
    if (secondFactor && !useRecovery) body.totp_code = totp.value.replace(/\s/g, '');
    if (secondFactor && useRecovery) body.recovery_code = recovery.value.trim();
    await busy(submit, async () => {
      try {
        await api.signIn(body);
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

  main.append(h('section', { class: 'card narrow signin' },
    h('h1', { id: 'signin-title' }, t('signin.title')),
    h('p', { class: 'lead' }, t('signin.lead')),
    form));
  email.focus();
}
