// A password reset link from an administrator (`#/reset/<token>`): the user sets a new password;
// every session and app password of the account ends, and the user signs in with it.
import * as api from '../api.js';
import { busy, clearErrors, field, focusFirstError, h, setFieldError, setFormError } from '../dom.js';
import { errorText, t } from '../i18n.js';

export async function render(main, app) {
  const token = decodeURIComponent((/^#\/reset\/([^/?#]+)/.exec(location.hash) || [])[1] || '');
  const password = h('input', { type: 'password', id: 'reset-password', autocomplete: 'new-password', required: true });
  const again = h('input', { type: 'password', id: 'reset-password-again', autocomplete: 'new-password', required: true });
  const submit = h('button', { type: 'submit', id: 'reset-submit', class: 'primary' }, t('reset.submit'));
  const form = h('form', { id: 'reset-form', novalidate: true },
    field(t('reset.password'), password, { hint: t('reset.passwordHint') }),
    field(t('reset.again'), again),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (password.value.length < 10) setFieldError('reset-password', t('error.weak_password'));
    else if (password.value !== again.value) setFieldError('reset-password-again', t('reset.mismatch'));
    if (focusFirstError(form)) return;
    await busy(submit, async () => {
      try {
        await api.anonymousPost('/api/auth/v1/password-resets', { token, new_password: password.value });
        if (app.me) await api.signOut().catch(() => {});
        app.me = null;
        main.replaceChildren(h('section', { class: 'card narrow' },
          h('h1', { tabindex: '-1' }, t('reset.title')),
          h('p', { class: 'notice success', role: 'status', id: 'reset-done' }, t('reset.done')),
          h('p', {}, h('a', { href: '#/signin', id: 'reset-sign-in' }, t('reset.signIn')))));
        main.querySelector('h1').focus();
      } catch (error) {
        const target = error.code === 'weak_password' ? 'reset-password' : null;
        if (!(target && setFieldError(target, errorText(error)))) setFormError(form, errorText(error));
        focusFirstError(form);
      }
    });
  });
  main.append(h('section', { class: 'card narrow' },
    h('h1', {}, t('reset.title')),
    h('p', { class: 'lead' }, t('reset.lead')),
    form));
}
