// How the sync goes: per kind, the first sync's progress bar, the last sync, the counts and the
// failed items with their reasons; "sync now". Refreshes itself while open.
import * as api from '../api.js';
import { announce, busy, h } from '../dom.js';
import { dateTime, number, relative } from '../format.js';
import { errorText, t } from '../i18n.js';

/** One kind's card; `held` is how many of its items wait for the user's decision. */
function kindCard(kind, held) {
  const first = kind.first_sync || { complete: true, done: 0, total: 0 };
  const id = kind.kind;
  // A settings change (folder, list, categories, a kind on again) reopens the first sync.
  const key = (name) => (first.reason === 'settings_change' ? `status.rescope${name}` : `status.firstSync${name}`);
  const body = [];
  // The first sync is complete once nothing waits for the sync itself; items that failed or
  // wait for a decision are listed below or in the conflict log.
  const attention = (kind.failed || 0) + held;
  if (first.complete && attention > 0) {
    body.push(h('p', { class: 'first-sync-attention', id: `first-sync-attention-${id}` },
      '✓ ', t(key('Attention'), { count: number(attention) })));
  } else if (!first.complete) {
    const label = h('p', { id: `progress-${id}-label`, class: 'progress-label' });
    // Until the first reads come back the total is unknown: an indeterminate bar.
    const bar = h('progress', { id: `progress-${id}`, 'aria-labelledby': `progress-${id}-label` });
    if (first.total > 0) {
      const total = Math.max(first.total, first.done);
      bar.max = total;
      bar.value = first.done;
      bar.setAttribute('aria-valuetext', `${Math.floor((first.done / total) * 100)}%`);
      label.textContent = t(key(''), { done: number(first.done), total: number(first.total) });
    } else {
      label.textContent = t(key('Reading'));
    }
    body.push(label, bar);
  } else {
    body.push(h('p', { class: 'first-sync-done', id: `first-sync-done-${id}` }, '✓ ', t(key('Done'))));
  }
  const stats = h('dl', { class: 'stats' },
    h('div', {}, h('dt', {}, t('status.linked')), h('dd', { id: `linked-${id}` }, number(kind.linked))),
    h('div', {}, h('dt', {}, t('status.pending')), h('dd', { id: `pending-${id}` }, number(kind.pending))),
    h('div', { class: kind.failed > 0 ? 'bad' : '' }, h('dt', {}, t('status.failed')), h('dd', { id: `failed-${id}` }, number(kind.failed))),
    kind.out_of_scope > 0
      ? h('div', {}, h('dt', {}, t('status.outOfScope')), h('dd', { id: `out-of-scope-${id}` }, number(kind.out_of_scope)))
      : null);
  const last = h('p', { class: 'last-sync', id: `last-sync-${id}` },
    t('status.lastSync'), ' ',
    kind.last_sync ? h('time', { datetime: kind.last_sync, title: dateTime(kind.last_sync) }, relative(kind.last_sync)) : t('status.notYet'));
  let failures = null;
  if (kind.failed_items && kind.failed_items.length > 0) {
    failures = h('div', { class: 'failures' },
      h('h3', {}, t('status.failedItems')),
      h('ul', { id: `failed-items-${id}` }, kind.failed_items.map((item) => h('li', {},
        h('strong', {}, item.label || t('status.unnamed')), ' — ', h('span', { class: 'reason' }, item.reason)))));
  }
  return h('section', { class: 'card kind-status', id: `status-${id}`, 'aria-labelledby': `status-${id}-title` },
    h('h2', { id: `status-${id}-title` }, t(`kind.${id}`)), ...body, last, stats, failures);
}

/** Replaces the children of `container` only when they changed: no churn for screen readers, and
 * the focus stays where it is while nothing moves. */
function update(container, ...children) {
  const fresh = document.createElement('div');
  fresh.append(...children);
  if (fresh.innerHTML !== container.innerHTML) container.replaceChildren(...fresh.childNodes);
}

export async function render(main, app) {
  const cards = h('div', { class: 'grid three', id: 'status-cards', 'aria-live': 'off' });
  const banner = h('div', { id: 'status-banner' });
  const syncNow = h('button', { type: 'button', id: 'sync-now', class: 'primary' }, t('status.syncNow'));
  const updated = h('p', { class: 'hint', id: 'status-updated' });
  // Announces the first sync's end once, politely.
  const live = h('p', { class: 'visually-hidden', role: 'status', id: 'status-live' });
  let wasComplete = null;
  let timer = null;
  let stopped = false;

  async function load() {
    const [status, settings, held] = await Promise.all([
      api.get('/api/sync/v1/status'),
      api.get('/api/sync/v1/settings').catch(() => null),
      api.get('/api/sync/v1/conflicts?status=held&limit=200').catch(() => null),
    ]);
    const notices = [];
    const heldEntries = (held && held.entries) || [];
    const waiting = new Set(heldEntries.map((e) => e.link_id)).size;
    const heldOf = (kind) => new Set(heldEntries.filter((e) => e.kind === kind).map((e) => e.link_id)).size;
    if (waiting > 0) {
      notices.push(h('p', { class: 'notice warning', id: 'held-banner' },
        t('status.held', { count: number(waiting) }), ' ', h('a', { href: '#/conflicts' }, t('status.decideInConflicts'))));
    }
    if (settings && settings.paused) {
      notices.push(h('p', { class: 'notice warning', id: 'paused-banner' }, t('status.paused'), ' ',
        h('a', { href: '#/settings' }, t('status.resumeInSettings'))));
    }
    update(banner, ...notices);
    const kinds = status.kinds || [];
    if (kinds.length === 0) {
      update(cards, h('p', { class: 'empty', id: 'status-empty' }, t('status.nothing'), ' ',
        h('a', { href: '#/settings' }, t('status.chooseInSettings'))));
    } else {
      update(cards, ...kinds.map((k) => kindCard(k, heldOf(k.kind))));
    }
    const complete = kinds.every((k) => !k.first_sync || k.first_sync.complete
      || (k.first_sync.total > 0 && k.first_sync.total - k.first_sync.done <= (k.failed || 0) + heldOf(k.kind)));
    if (wasComplete === false && complete) live.textContent = t('status.firstSyncFinished');
    wasComplete = complete;
    updated.textContent = t('status.updated', { when: new Date().toLocaleTimeString(document.documentElement.lang) });
    return complete;
  }

  async function tick() {
    if (stopped) return;
    let complete = true;
    try {
      complete = await load();
    } catch (error) {
      if (error.status === 401) return;
      update(banner, h('p', { class: 'notice error', role: 'alert' }, errorText(error)));
    }
    if (!stopped) timer = setTimeout(tick, complete ? 10_000 : 1_500);
  }

  syncNow.addEventListener('click', () => busy(syncNow, async () => {
    try {
      await api.post('/api/sync/v1/sync-now');
      announce(t('status.syncRequested'), 'success');
      clearTimeout(timer);
      timer = setTimeout(tick, 1_000);
    } catch (error) {
      announce(errorText(error), 'error');
    }
  }));

  main.append(
    h('div', { class: 'title-row' }, h('h1', {}, t('status.title')), syncNow),
    banner, cards, updated, live,
  );
  await tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
