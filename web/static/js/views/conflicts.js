// The conflict log: every conflict with the value before and both sides' values, newest first,
// filtered by kind and state, paged; held conflicts (review mode) are resolved here.
import * as api from '../api.js';
import { announce, busy, field, h, stackable } from '../dom.js';
import { dateTime, fieldName, shortDateTime, value } from '../format.js';
import { errorText, t } from '../i18n.js';

const PAGE_SIZE = 20;

export async function render(main) {
  const state = { kind: '', status: '', cursors: [], before: null, next: null };

  const kind = h('select', { id: 'conflict-kind' },
    ['', 'contact', 'task', 'event'].map((k) => h('option', { value: k }, k ? t(`kind.${k}`) : t('conflicts.allKinds'))));
  const status = h('select', { id: 'conflict-status' },
    ['', 'held', 'decided', 'resolved', 'dropped'].map((s) => h('option', { value: s }, s ? t(`conflicts.status.${s}`) : t('conflicts.allStates'))));
  const filters = h('form', { class: 'filters', id: 'conflict-filters', role: 'search', 'aria-label': t('conflicts.filters') },
    field(t('conflicts.kind'), kind), field(t('conflicts.state'), status));
  filters.addEventListener('submit', (event) => event.preventDefault());

  const results = h('div', { id: 'conflict-results', 'aria-live': 'polite' });
  const newer = h('button', { type: 'button', id: 'conflicts-newer', class: 'secondary' }, t('conflicts.newer'));
  const older = h('button', { type: 'button', id: 'conflicts-older', class: 'secondary' }, t('conflicts.older'));
  const pager = h('nav', { class: 'pager', 'aria-label': t('conflicts.pages') }, newer, older);

  async function load() {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (state.kind) params.set('kind', state.kind);
    if (state.status) params.set('status', state.status);
    if (state.before) params.set('before', String(state.before));
    let page;
    try {
      page = await api.get(`/api/sync/v1/conflicts?${params}`);
    } catch (error) {
      results.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, errorText(error)));
      return;
    }
    state.next = page.next_before ?? null;
    newer.disabled = state.cursors.length === 0;
    older.disabled = state.next === null;
    const entries = page.entries || [];
    if (entries.length === 0) {
      results.replaceChildren(h('p', { class: 'empty', id: 'conflicts-empty' }, t('conflicts.none')));
      return;
    }
    const table = h('table', { id: 'conflicts-table' },
      h('caption', { class: 'visually-hidden' }, t('conflicts.caption')),
      h('thead', {}, h('tr', {}, ['item', 'field', 'base', 'outlook', 'zoho', 'outcome'].map((c) =>
        h('th', { scope: 'col' }, t(`conflicts.col.${c}`))))),
      h('tbody', {}, entries.map(row)));
    results.replaceChildren(h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': t('conflicts.caption') }, stackable(table)));
  }

  function outcome(entry) {
    if (entry.status === 'held') {
      const label = `${entry.label} · ${fieldName(entry.field)}`;
      const keep = (side) => {
        const button = h('button', { type: 'button', class: 'secondary small', 'data-link': entry.link_id, 'data-keep': side,
          'aria-label': t(`conflicts.keepLabel.${side}`, { item: label }) }, t(`conflicts.keep.${side}`));
        button.addEventListener('click', () => busy(button, async () => {
          try {
            await api.post(`/api/sync/v1/conflicts/${entry.link_id}/resolve`, { keep: side });
            await load();
            announce(t('conflicts.resolved', { item: entry.label }), 'success');
          } catch (error) {
            announce(errorText(error), 'error');
          }
        }));
        return button;
      };
      const deleted = entry.delete_waits_on === 'outlook' || entry.delete_waits_on === 'zoho'
        ? h('div', { class: 'hint delete-waits' }, t(`conflicts.deleteWaits.${entry.delete_waits_on}`))
        : null;
      return h('td', { class: 'outcome held' },
        h('span', { class: 'badge held' }, t('conflicts.status.held')),
        deleted,
        h('div', { class: 'actions' }, keep('outlook'), keep('zoho')));
    }
    const winner = entry.winner ? t(`conflicts.kept.${entry.winner}`) : '';
    return h('td', { class: 'outcome' },
      h('span', { class: `badge ${entry.status}` }, t(`conflicts.status.${entry.status}`)),
      winner ? h('div', {}, winner) : null,
      h('div', { class: 'hint' }, t(`conflicts.rule.${entry.rule}`)));
  }

  function row(entry) {
    const cell = (v, winner) => h('td', { class: winner ? 'winner' : '' }, value(v));
    return h('tr', { 'data-status': entry.status },
      h('td', { class: 'item' },
        h('div', { class: 'label' }, entry.label),
        h('div', { class: 'hint' }, h('span', { class: 'kind-tag' }, t(`kind.${entry.kind}`)), ' ',
          h('time', { datetime: entry.created_at, title: dateTime(entry.created_at) }, shortDateTime(entry.created_at)))),
      h('td', {}, fieldName(entry.field)),
      cell(entry.base),
      cell(entry.outlook, entry.winner === 'outlook'),
      cell(entry.zoho, entry.winner === 'zoho'),
      outcome(entry));
  }

  const restart = () => {
    state.kind = kind.value;
    state.status = status.value;
    state.cursors = [];
    state.before = null;
    load();
  };
  kind.addEventListener('change', restart);
  status.addEventListener('change', restart);
  older.addEventListener('click', () => {
    if (state.next === null) return;
    state.cursors.push(state.before);
    state.before = state.next;
    load();
  });
  newer.addEventListener('click', () => {
    if (state.cursors.length === 0) return;
    state.before = state.cursors.pop();
    load();
  });

  main.append(
    h('h1', {}, t('conflicts.title')),
    h('p', { class: 'lead' }, t('conflicts.lead')),
    filters, results, pager,
  );
  await load();
}
