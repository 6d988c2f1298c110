// The admin console's "Sign-in" part: the identity providers people can sign in with, and the
// organisation's policy (password sign-in on, or single sign-on only).
import * as api from '../api.js';
import { announce, busy, checkbox, h } from '../dom.js';
import { errorText, t } from '../i18n.js';
import * as sso from '../sso.js';

export async function signInPart(area) {
  const [policy, options] = await Promise.all([api.get('/api/auth/v1/admin/sign-in-policy'), sso.options()]);
  const providers = options.providers.length
    ? h('ul', { id: 'sso-provider-list' }, options.providers.map((p) => h('li', {}, p.name)))
    : h('p', { class: 'empty', id: 'sso-provider-list' }, t('admin.signIn.noProviders'));
  const toggle = checkbox('password-sign-in', t('admin.signIn.password'), policy.password_sign_in,
    { hint: t('admin.signIn.passwordHint') });
  const save = h('button', { type: 'button', class: 'primary', id: 'save-sign-in-policy' }, t('admin.signIn.save'));
  save.addEventListener('click', () => busy(save, async () => {
    const on = document.getElementById('password-sign-in').checked;
    try {
      await api.put('/api/auth/v1/admin/sign-in-policy', { password_sign_in: on });
      announce(t(on ? 'admin.signIn.savedOn' : 'admin.signIn.savedOff'), 'success');
    } catch (error) {
      announce(errorText(error), 'error');
    }
  }));
  area.append(
    h('section', { class: 'card', 'aria-labelledby': 'sso-providers-title' },
      h('h3', { id: 'sso-providers-title' }, t('admin.signIn.providers')),
      h('p', { class: 'hint' }, t('admin.signIn.providersHint')),
      providers),
    h('section', { class: 'card', 'aria-labelledby': 'sign-in-policy-title' },
      h('h3', { id: 'sign-in-policy-title' }, t('admin.signIn.policy')),
      toggle,
      h('div', { class: 'actions' }, save)));
}
