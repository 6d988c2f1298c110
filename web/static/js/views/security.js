// Security: two-factor sign-in (enrolment with a QR code, recovery codes, turning it off), app
// passwords (created with a name and shown once, listed with their last use, revoked), the
// sessions signed in to this account, and the password.
import * as api from '../api.js';
import { announce, busy, clearErrors, field, focusFirstError, h, setFieldError, setFormError, stackable } from '../dom.js';
import { dateTime, device, relative } from '../format.js';
import { errorText, has, t } from '../i18n.js';
import { identities } from './identities.js';

function copyButton(text, id) {
  const button = h('button', { type: 'button', class: 'secondary small', id }, t('common.copy'));
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      announce(t('common.copied'), 'success');
    } catch {
      announce(t('common.copyFailed'), 'error');
    }
  });
  return button;
}

function recoveryCodes(codes) {
  const blob = new Blob([`${codes.join('\n')}\n`], { type: 'text/plain' });
  const download = h('a', { href: URL.createObjectURL(blob), download: 'recovery-codes.txt', class: 'button secondary small' }, t('security.downloadCodes'));
  return h('div', { class: 'secret-box', id: 'recovery-codes-box', role: 'status' },
    h('h3', {}, t('security.recoveryCodes')),
    h('p', {}, t('security.recoveryCodesOnce')),
    h('ol', { class: 'codes', id: 'recovery-codes' }, codes.map((c) => h('li', {}, h('code', {}, c)))),
    h('div', { class: 'actions' }, copyButton(codes.join('\n'), 'copy-recovery-codes'), download));
}

/** Asks who is there before a sensitive change: the password, or for an account without one
 * (it signs in with an identity provider) a code from the authenticator app or a recovery code.
 * `onSubmit` gets the proof as the API takes it. */
function proofForm(app, id, submitLabel, onSubmit, { danger } = {}) {
  const withPassword = app.me.has_password !== false;
  const input = withPassword
    ? h('input', { type: 'password', id: `${id}-password`, autocomplete: 'current-password' })
    : h('input', { type: 'text', id: `${id}-code`, autocomplete: 'one-time-code', spellcheck: 'false', maxlength: '40' });
  const submit = h('button', { type: 'submit', class: danger ? 'danger' : 'secondary', id: `${id}-submit` }, submitLabel);
  const label = withPassword
    ? field(t('security.currentPassword'), input)
    : field(t('security.currentCode'), input, { hint: t('security.currentCodeHint') });
  const form = h('form', { id, class: 'inline-form', novalidate: true }, label, h('div', { class: 'actions' }, submit));
  const proof = (value) => {
    if (withPassword) return { password: value };
    const compact = value.replace(/\s+/g, '');
    return /^\d{6}$/.test(compact) ? { totp_code: compact } : { recovery_code: compact };
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!input.value.trim()) {
      setFieldError(input.id, withPassword ? t('signin.passwordMissing') : t('security.currentCodeMissing'));
      input.focus();
      return;
    }
    await busy(submit, async () => {
      try {
        await onSubmit(proof(input.value));
        input.value = '';
      } catch (error) {
        if (['invalid_credentials', 'invalid_second_factor', 'second_factor_required'].includes(error.code)) setFieldError(input.id, errorText(error));
        else setFormError(form, errorText(error));
        focusFirstError(form);
      }
    });
  });
  return form;
}

function twoFactor(app, rerender) {
  const section = h('section', { class: 'card', id: 'two-factor', 'aria-labelledby': 'two-factor-title' },
    h('div', { class: 'card-head' },
      h('h2', { id: 'two-factor-title' }, t('security.twoFactor')),
      h('span', { id: 'two-factor-state', class: `badge ${app.me.totp_enabled ? 'connected' : 'not_connected'}` },
        app.me.totp_enabled ? t('security.on') : t('security.off'))),
    h('p', { class: 'hint' }, t('security.twoFactorLead')));
  const area = h('div', { id: 'two-factor-area' });
  section.append(area);

  if (app.me.totp_enabled) {
    area.append(
      h('h3', {}, t('security.newRecoveryCodes')),
      h('p', { class: 'hint' }, t('security.newRecoveryCodesHint')),
      proofForm(app, 'recovery-form', t('security.makeRecoveryCodes'), async (proof) => {
        const answer = await api.post('/api/auth/v1/me/recovery-codes', proof);
        document.getElementById('recovery-form').replaceWith(recoveryCodes(answer.recovery_codes));
      }),
      h('h3', {}, t('security.turnOff')),
      proofForm(app, 'totp-off-form', t('security.turnOffButton'), async (proof) => {
        await api.del('/api/auth/v1/me/totp', proof);
        await app.reloadMe();
        announce(t('security.turnedOff'), 'success');
        rerender();
      }, { danger: true }),
    );
    return section;
  }

  const start = h('button', { type: 'button', id: 'totp-start', class: 'primary' }, t('security.turnOn'));
  area.append(start);
  start.addEventListener('click', () => busy(start, async () => {
    let enrolment;
    try {
      enrolment = await api.post('/api/totp');
    } catch (error) {
      announce(errorText(error), 'error');
      return;
    }
    const code = h('input', { type: 'text', id: 'totp-confirm-code', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '8' });
    const confirm = h('button', { type: 'submit', id: 'totp-confirm', class: 'primary' }, t('security.confirmTotp'));
    const form = h('form', { id: 'totp-form', novalidate: true },
      field(t('security.totpCode'), code, { hint: t('security.totpCodeHint') }), h('div', { class: 'actions' }, confirm));
    const qr = h('img', { id: 'totp-qr', class: 'qr', width: '220', height: '220', alt: t('security.qrAlt'),
      src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(enrolment.qr_svg)}` });
    const secret = enrolment.secret.replace(/(.{4})/g, '$1 ').trim();
    area.replaceChildren(
      h('ol', { class: 'steps' },
        h('li', {}, t('security.step1')),
        h('li', {}, t('security.step2'), h('div', { class: 'qr-box' }, qr,
          h('p', { class: 'hint' }, t('security.manualEntry'), ' ', h('code', { id: 'totp-secret', class: 'secret' }, secret)))),
        h('li', {}, t('security.step3'), form)));
    code.focus();
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      if (!code.value.trim()) {
        setFieldError('totp-confirm-code', t('signin.totpMissing'));
        code.focus();
        return;
      }
      await busy(confirm, async () => {
        try {
          const answer = await api.post('/api/auth/v1/me/totp/confirm', { code: code.value.replace(/\s/g, '') });
          await app.reloadMe();
          announce(t('security.turnedOn'), 'success');
          const done = h('button', { type: 'button', class: 'primary', id: 'recovery-codes-done' }, t('common.done'));
          done.addEventListener('click', rerender);
          area.replaceChildren(recoveryCodes(answer.recovery_codes), h('div', { class: 'actions' }, done));
          document.getElementById('two-factor-state').textContent = t('security.on');
          document.getElementById('recovery-codes-box').focus?.();
        } catch (error) {
          setFieldError('totp-confirm-code', errorText(error));
          code.focus();
        }
      });
    });
  }));
  return section;
}

async function appPasswords() {
  const section = h('section', { class: 'card', id: 'app-passwords-section', 'aria-labelledby': 'app-passwords-title' },
    h('h2', { id: 'app-passwords-title' }, t('security.appPasswords')),
    h('p', { class: 'hint' }, t('security.appPasswordsLead')));
  const name = h('input', { type: 'text', id: 'app-password-name', maxlength: '100', autocomplete: 'off' });
  const create = h('button', { type: 'submit', id: 'app-password-create', class: 'primary' }, t('security.create'));
  const form = h('form', { id: 'app-password-form', class: 'inline-form', novalidate: true },
    field(t('security.appPasswordName'), name, { hint: t('security.appPasswordNameHint') }), h('div', { class: 'actions' }, create));
  const shown = h('div', { id: 'new-app-password-area' });
  const listArea = h('div', { id: 'app-password-list' });
  section.append(form, shown, listArea);

  async function refreshList() {
    const answer = await api.get('/api/auth/v1/me/app-passwords');
    const items = answer.app_passwords || [];
    if (items.length === 0) {
      listArea.replaceChildren(h('p', { class: 'empty', id: 'app-passwords-empty' }, t('security.noAppPasswords')));
      return;
    }
    const table = h('table', { id: 'app-passwords' },
      h('caption', { class: 'visually-hidden' }, t('security.appPasswords')),
      h('thead', {}, h('tr', {}, ['name', 'created', 'lastUsed', 'actions'].map((c) => h('th', { scope: 'col' }, t(`security.col.${c}`))))),
      h('tbody', {}, items.map((item) => {
        const revoke = h('button', { type: 'button', class: 'danger small', 'data-revoke': item.id,
          'aria-label': t('security.revokeNamed', { name: item.name }) }, t('security.revoke'));
        const cell = h('td', {}, revoke);
        revoke.addEventListener('click', () => {
          const yes = h('button', { type: 'button', class: 'danger small', 'data-confirm-revoke': item.id }, t('security.revokeYes'));
          const no = h('button', { type: 'button', class: 'secondary small' }, t('common.cancel'));
          // A password in use: say that the program using it stops working.
          const recent = item.last_used_at && Date.now() - new Date(item.last_used_at).getTime() < 7 * 86400 * 1000;
          cell.replaceChildren(h('span', { class: 'confirm-text' }, t('security.revokeConfirm', { name: item.name })),
            recent ? h('span', { class: 'confirm-text in-use', id: `revoke-in-use-${item.id}` },
              t('security.revokeInUse', { when: relative(item.last_used_at) })) : null,
            yes, no);
          yes.focus();
          no.addEventListener('click', () => refreshList());
          yes.addEventListener('click', () => busy(yes, async () => {
            try {
              await api.del(`/api/auth/v1/me/app-passwords/${item.id}`);
              announce(t('security.revoked', { name: item.name }), 'success');
              await refreshList();
              name.focus();
            } catch (error) {
              announce(errorText(error), 'error');
            }
          }));
        });
        return h('tr', { 'data-name': item.name },
          h('td', {}, item.name),
          h('td', {}, dateTime(item.created_at)),
          h('td', { class: 'last-used' }, item.last_used_at ? h('time', { datetime: item.last_used_at, title: dateTime(item.last_used_at) }, relative(item.last_used_at)) : t('common.never')),
          cell);
      })));
    listArea.replaceChildren(h('div', { class: 'table-wrap' }, stackable(table)));
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!name.value.trim()) {
      setFieldError('app-password-name', t('security.appPasswordNameMissing'));
      name.focus();
      return;
    }
    await busy(create, async () => {
      try {
        const answer = await api.post('/api/auth/v1/me/app-passwords', { name: name.value.trim() });
        name.value = '';
        const done = h('button', { type: 'button', class: 'secondary small', id: 'new-app-password-done' }, t('common.done'));
        done.addEventListener('click', () => {
          shown.replaceChildren();
          name.focus();
        });
        shown.replaceChildren(h('div', { class: 'secret-box', role: 'status', id: 'new-app-password-box' },
          h('p', {}, t('security.appPasswordOnce', { name: answer.name })),
          h('p', {}, h('code', { class: 'secret big', id: 'new-app-password' }, answer.password)),
          h('div', { class: 'actions' }, copyButton(answer.password, 'copy-app-password'), done)));
        await refreshList();
        done.focus();
      } catch (error) {
        if (['invalid_name', 'app_password_name_taken'].includes(error.code)) setFieldError('app-password-name', errorText(error));
        else setFormError(form, errorText(error));
        focusFirstError(form);
      }
    });
  });

  await refreshList();
  return section;
}

async function sessions(app) {
  const section = h('section', { class: 'card', id: 'sessions-section', 'aria-labelledby': 'sessions-title' },
    h('h2', { id: 'sessions-title' }, t('security.sessions')),
    h('p', { class: 'hint' }, t('security.sessionsLead')));
  const area = h('div', { id: 'session-list' });
  section.append(area);
  async function refreshList() {
    const answer = await api.get('/api/auth/v1/sessions');
    const rows = (answer.sessions || []).map((s) => {
      const action = s.current
        ? h('span', { class: 'badge connected' }, t('security.thisBrowser'))
        : h('button', { type: 'button', class: 'danger small', 'data-session': s.session_id,
          'aria-label': t('security.endSessionNamed', { device: device(s.user_agent) }) }, t('security.endSession'));
      if (!s.current) {
        action.addEventListener('click', () => busy(action, async () => {
          try {
            await api.del(`/api/auth/v1/sessions/${s.session_id}`);
            announce(t('security.sessionEnded'), 'success');
            await refreshList();
          } catch (error) {
            announce(errorText(error), 'error');
          }
        }));
      }
      return h('tr', { class: s.current ? 'current' : '' },
        h('td', {}, device(s.user_agent)),
        h('td', {}, (s.amr || []).map((m) => (has(`security.amr.${m}`) ? t(`security.amr.${m}`) : m)).join(', ')),
        h('td', {}, dateTime(s.created_at)),
        h('td', {}, h('time', { datetime: s.last_used_at, title: dateTime(s.last_used_at) }, relative(s.last_used_at))),
        h('td', {}, s.long_lived ? t('security.kept') : t('security.short'), h('div', { class: 'hint' }, dateTime(s.expires_at))),
        h('td', {}, action));
    });
    area.replaceChildren(h('div', { class: 'table-wrap' }, stackable(h('table', { id: 'sessions' },
      h('caption', { class: 'visually-hidden' }, t('security.sessions')),
      h('thead', {}, h('tr', {}, ['device', 'method', 'signedIn', 'lastActive', 'expires', 'actions'].map((c) => h('th', { scope: 'col' }, t(`security.col.${c}`))))),
      h('tbody', {}, rows)))));
  }
  await refreshList();
  return section;
}

function passwordChange(app) {
  if (app.me.has_password === false) {
    return h('section', { class: 'card', id: 'password-section', 'aria-labelledby': 'password-title' },
      h('h2', { id: 'password-title' }, t('security.password')),
      h('p', { class: 'hint', id: 'no-password' }, t('security.noPassword')));
  }
  const current = h('input', { type: 'password', id: 'current-password', autocomplete: 'current-password' });
  const next = h('input', { type: 'password', id: 'new-password', autocomplete: 'new-password' });
  const submit = h('button', { type: 'submit', class: 'secondary', id: 'change-password' }, t('security.changePassword'));
  const form = h('form', { id: 'password-form', novalidate: true },
    field(t('security.currentPassword'), current),
    field(t('security.newPassword'), next, { hint: t('security.newPasswordHint') }),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!current.value) setFieldError('current-password', t('signin.passwordMissing'));
    if (!next.value) setFieldError('new-password', t('security.newPasswordMissing'));
    if (focusFirstError(form)) return;
    await busy(submit, async () => {
      try {
        await api.put('/api/auth/v1/me/password', { current_password: current.value, new_password: next.value });
        current.value = '';
        next.value = '';
        announce(t('security.passwordChanged'), 'success');
      } catch (error) {
        if (error.code === 'invalid_credentials') setFieldError('current-password', errorText(error));
        else if (error.field === 'new_password' || error.code === 'weak_password') setFieldError('new-password', errorText(error));
        else setFormError(form, errorText(error));
        focusFirstError(form);
      }
    });
  });
  return h('section', { class: 'card', id: 'password-section', 'aria-labelledby': 'password-title' },
    h('h2', { id: 'password-title' }, t('security.password')), form);
}

/** The screen's sections, drawn aside so the screen never goes blank while answers come. */
async function sections(app, rerender) {
  const [apps, signedIn, linked] = await Promise.all([appPasswords(), sessions(app), identities()]);
  return [
    h('h1', {}, t('security.title')),
    twoFactor(app, rerender),
    apps,
    linked,
    signedIn,
    passwordChange(app),
  ];
}

export async function render(main, app) {
  // Every redraw goes to the screen itself: a redraw's own sections redraw it again later.
  const rerender = async () => main.replaceChildren(...await sections(app, rerender));
  // Replaces rather than appends: two overlapping visits must not draw the screen twice.
  await rerender();
}
