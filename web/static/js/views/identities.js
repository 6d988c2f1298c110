// The security screen's "Linked sign-ins": identity providers that sign this account in, each
// with its account at the provider, when it was linked and last used, and an unlink button.
import * as api from '../api.js';
import { announce, busy, h, stackable } from '../dom.js';
import { dateTime, relative } from '../format.js';
import { errorText, t } from '../i18n.js';

export async function identities() {
  const section = h('section', { class: 'card', id: 'identities-section', 'aria-labelledby': 'identities-title' },
    h('h2', { id: 'identities-title' }, t('security.identities')),
    h('p', { class: 'hint' }, t('security.identitiesLead')));
  const area = h('div', { id: 'identity-list' });
  section.append(area);
  async function refreshList() {
    const answer = await api.get('/api/auth/v1/me/identities');
    const list = answer.identities || [];
    if (!list.length) {
      area.replaceChildren(h('p', { class: 'empty', id: 'no-identities' }, t('security.noIdentities')));
      return;
    }
    const rows = list.map((identity) => {
      const unlink = h('button', { type: 'button', class: 'danger small', 'data-identity': identity.id,
        'aria-label': t('security.unlinkNamed', { name: identity.provider_name }) }, t('security.unlink'));
      unlink.addEventListener('click', () => busy(unlink, async () => {
        try {
          await api.del(`/api/auth/v1/me/identities/${identity.id}`);
          announce(t('security.unlinked', { name: identity.provider_name }), 'success');
          await refreshList();
        } catch (error) {
          announce(errorText(error), 'error');
        }
      }));
      const last = identity.last_sign_in_at;
      return h('tr', {},
        h('td', {}, identity.provider_name),
        h('td', {}, identity.email || ''),
        h('td', {}, dateTime(identity.linked_at)),
        h('td', {}, last ? h('time', { datetime: last, title: dateTime(last) }, relative(last)) : t('common.never')),
        h('td', {}, unlink));
    });
    area.replaceChildren(h('div', { class: 'table-wrap' }, stackable(h('table', { id: 'identities' },
      h('caption', { class: 'visually-hidden' }, t('security.identities')),
      h('thead', {}, h('tr', {}, ['provider', 'account', 'linked', 'lastUsed', 'actions'].map((c) => h('th', { scope: 'col' }, t(`security.col.${c}`))))),
      h('tbody', {}, rows)))));
  }
  await refreshList();
  return section;
}
