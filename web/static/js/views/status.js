// How the sync goes, per kind and per side: each connection's state (connected, reconnect
// needed, throttled or allowance used up until a time, provider failing), each side's last read
// and last write, the first sync's progress, held and failed items with what to do, and a banner
// when nothing syncs. `web` pushes the status as server-sent events when it changes.
import * as api from '../api.js';
import { announce, busy, h, stackable } from '../dom.js';
import { dateTime, number, relative, time } from '../format.js';
import { errorText, itemProblem, t } from '../i18n.js';

const SIDES = ['outlook', 'zoho'];

/** A connection state (`{state, until}`) in words, with its time when it has one. */
export function stateText(state) {
  if (!state) return t('state.unknown');
  return t(`state.${state.state}`, { until: state.until ? time(state.until) : '' });
}

/** A state's colour: fine, waiting on its own, or needing someone. */
export function tone(state) {
  return !state ? 'unknown' : state === 'connected' ? 'ok'
    : ['throttled', 'provider_failing'].includes(state) ? 'warn' : 'bad';
}

function stateBadge(state, id) {
  return h('span', { class: `badge state-${tone(state && state.state)}`, id }, stateText(state));
}

function when(value) {
  return value ? h('time', { datetime: value, title: dateTime(value) }, relative(value)) : t('status.notYet');
}

/** One kind's card. */
function kindCard(kind, overview) {
  const first = kind.first_sync || { complete: true, done: 0, total: 0 };
  const id = kind.kind;
  const key = (name) => (first.reason === 'settings_change' ? `status.rescope${name}` : `status.firstSync${name}`);
  const body = [];
  const held = kind.held || 0;
  const attention = (kind.failed || 0) + held;
  // sync-service says for how long a completed first sync is news (a day, by its clock).
  const recent = first.just_completed === true;
  if (!first.complete) {
    const label = h('p', { id: `progress-${id}-label`, class: 'progress-label' });
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
  } else if (recent && attention > 0) {
    body.push(h('p', { class: 'first-sync-attention', id: `first-sync-attention-${id}` },
      '✓ ', t(key('Attention'), { count: number(attention) })));
  } else if (recent) {
    body.push(h('p', { class: 'first-sync-done', id: `first-sync-done-${id}` }, '✓ ', t(key('Done'))));
  } else if (attention > 0) {
    body.push(h('p', { class: 'first-sync-attention', id: `first-sync-attention-${id}` },
      t('status.attention', { count: number(attention) })));
  }
  // Each side on its own: a side that stopped cannot hide behind the other's activity.
  const rows = SIDES.map((side) => {
    const activity = (kind.sides && kind.sides[side]) || {};
    const connection = overview.connections && overview.connections[side];
    const state = connection && connection.kinds && connection.kinds[id] ? connection.kinds[id] : connection;
    return h('tr', { id: `side-${id}-${side}` },
      h('th', { scope: 'row' }, t(`provider.${side}`)),
      h('td', {}, stateBadge(state, `state-${id}-${side}`)),
      h('td', { id: `last-read-${id}-${side}` }, when(activity.last_read)),
      h('td', { id: `last-write-${id}-${side}` }, when(activity.last_write)));
  });
  const sides = stackable(h('table', { class: 'sides', id: `sides-${id}` },
    h('caption', { class: 'visually-hidden' }, t('status.sidesCaption', { kind: t(`kind.${id}`) })),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, t('status.side')),
      h('th', { scope: 'col' }, t('status.connection')),
      h('th', { scope: 'col' }, t('status.lastRead')),
      h('th', { scope: 'col' }, t('status.lastWrite')))),
    h('tbody', {}, rows)));
  const stats = h('dl', { class: 'stats' },
    h('div', {}, h('dt', {}, t('status.linked')), h('dd', { id: `linked-${id}` }, number(kind.linked))),
    h('div', {}, h('dt', {}, t('status.pending')), h('dd', { id: `pending-${id}` }, number(kind.pending))),
    h('div', { class: held > 0 ? 'warn' : '' }, h('dt', {}, t('status.heldCount')), h('dd', { id: `held-${id}` }, number(held))),
    h('div', { class: kind.failed > 0 ? 'bad' : '' }, h('dt', {}, t('status.failed')), h('dd', { id: `failed-${id}` }, number(kind.failed))),
    kind.out_of_scope > 0
      ? h('div', {}, h('dt', {}, t('status.outOfScope')), h('dd', { id: `out-of-scope-${id}` }, number(kind.out_of_scope)))
      : null);
  const todo = [];
  if (kind.held_deletions > 0) {
    todo.push(h('p', { class: 'notice warning', id: `held-deletions-${id}` },
      t('status.heldDeletions', { count: number(kind.held_deletions) })));
  }
  const waiting = held - (kind.held_deletions || 0);
  if (waiting > 0) {
    todo.push(h('p', { class: 'notice warning', id: `held-decisions-${id}` },
      t('status.heldDecisions', { count: number(waiting) }), ' ', h('a', { href: '#/conflicts' }, t('status.decideInConflicts'))));
  }
  let failures = null;
  if (kind.failed_items && kind.failed_items.length > 0) {
    failures = h('div', { class: 'failures' },
      h('h3', {}, t('status.failedItems')),
      h('ul', { id: `failed-items-${id}` }, kind.failed_items.map((item) => {
        const problem = itemProblem(item);
        return h('li', {},
          h('strong', {}, item.label || t('status.unnamed')), ' — ',
          h('span', { class: 'reason', 'data-code': item.code }, problem.text),
          problem.todo ? h('span', { class: 'todo' }, ' ', problem.todo) : null);
      })));
  }
  return h('section', { class: 'card kind-status', id: `status-${id}`, 'aria-labelledby': `status-${id}-title` },
    h('h2', { id: `status-${id}-title` }, t(`kind.${id}`)), ...body, sides, stats, ...todo, failures);
}

/** Why nothing syncs, and what to do, or null when items move. */
function stopped(overview, kinds) {
  const reasons = [];
  if (overview.paused) {
    reasons.push(h('li', {}, t('status.paused'), ' ', h('a', { href: '#/settings' }, t('status.resumeInSettings'))));
  }
  for (const side of SIDES) {
    const connection = overview.connections && overview.connections[side];
    if (!connection || connection.state === 'connected') continue;
    reasons.push(h('li', { id: `stopped-${side}` },
      t(`status.stopped.${connection.state}`, {
        provider: t(`provider.${side}`),
        until: connection.until ? time(connection.until) : '',
      }), ' ',
      ['not_connected', 'reconnect_needed'].includes(connection.state)
        ? h('a', { href: '#/connections' }, t('status.goToAccounts')) : null));
  }
  // A change that failed holds the user's later changes, in order (retried, then blocked).
  const held = overview.sync && overview.sync.held;
  if (held) {
    reasons.push(h('li', { id: `stopped-${held.state}` }, t(`status.stopped.held.${held.state}`, {
      attempts: number(held.attempts), waiting: number(held.waiting_messages),
    })));
  }
  for (const service of overview.unavailable || []) {
    reasons.push(h('li', {}, t('status.stopped.unavailable', { service })));
  }
  if (kinds.length === 0 && reasons.length === 0) return null;
  if (reasons.length === 0) return null;
  return h('div', { class: 'notice error banner', id: 'not-syncing', role: 'alert' },
    h('p', {}, h('strong', {}, overview.syncing ? t('status.partlyStopped') : t('status.notSyncing'))),
    h('ul', {}, reasons));
}

/** Replaces the children of `container` only when they changed: no churn for screen readers, and
 * the focus stays where it is while nothing moves. */
function update(container, ...children) {
  const fresh = document.createElement('div');
  fresh.append(...children);
  if (fresh.innerHTML !== container.innerHTML) container.replaceChildren(...fresh.childNodes);
}

export async function render(main) {
  const cards = h('div', { class: 'grid three', id: 'status-cards', 'aria-live': 'off', 'aria-busy': 'true' },
    h('p', { class: 'loading', id: 'status-loading' }, t('common.loading')));
  const banner = h('div', { id: 'status-banner' });
  const syncNow = h('button', { type: 'button', id: 'sync-now', class: 'primary' }, t('status.syncNow'));
  const updated = h('p', { class: 'hint', id: 'status-updated' });
  // Announces the first sync's end once, politely.
  const live = h('p', { class: 'visually-hidden', role: 'status', id: 'status-live' });
  let wasComplete = null;
  let last = null;
  const controller = new AbortController();

  function draw(overview) {
    last = overview;
    const status = overview.sync || { kinds: [] };
    const kinds = status.kinds || [];
    update(banner, stopped(overview, kinds));
    cards.removeAttribute('aria-busy');
    if (kinds.length === 0) {
      update(cards, h('p', { class: 'empty', id: 'status-empty' }, t('status.nothing'), ' ',
        h('a', { href: '#/settings' }, t('status.chooseInSettings'))));
    } else {
      update(cards, ...kinds.map((k) => kindCard(k, overview)));
    }
    const complete = kinds.every((k) => !k.first_sync || k.first_sync.complete);
    if (wasComplete === false && complete) live.textContent = t('status.firstSyncFinished');
    wasComplete = complete;
    updated.textContent = t('status.updated', { when: new Date().toLocaleTimeString(document.documentElement.lang) });
  }

  syncNow.addEventListener('click', () => busy(syncNow, async () => {
    try {
      await api.post('/api/sync/v1/sync-now');
      announce(t('status.syncRequested'), 'success');
    } catch (error) {
      announce(errorText(error), 'error');
    }
  }));

  main.append(
    h('div', { class: 'title-row' }, h('h1', {}, t('status.title')), syncNow),
    banner, cards, updated, live,
  );
  api.listen('/api/status/events', {
    signal: controller.signal,
    onEvent: (name, data) => {
      if (name === 'overview') draw(data);
    },
    onTrouble: (error) => {
      update(banner, h('p', { class: 'notice error', role: 'alert', id: 'status-trouble' }, errorText(error)));
    },
  });
  // Relative times ("2 minutes ago") age without new events.
  const ticker = setInterval(() => {
    if (last) draw(last);
  }, 30_000);
  return () => {
    controller.abort();
    clearInterval(ticker);
  };
}
