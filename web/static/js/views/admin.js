// The admin console, for users with the admin role: users (create, disable, reset two-factor
// sign-in, sign out everywhere, sync health and resync), every connection's health with filters,
// held deletions grouped by user and kind (release or discard in bulk, with what each does), dead
// letters with replay, the audit log, and sign-in (the identity providers and the password
// sign-in policy, `sign-in-policy.js`). Each part is at `#/admin/<part>`.
import * as api from '../api.js';
import { announce, busy, checkbox, clearErrors, field, focusFirstError, h, setFieldError, setFormError, stackable } from '../dom.js';
import { dateTime, number, relative } from '../format.js';
import { errorText, t } from '../i18n.js';
import { signInPart } from './sign-in-policy.js';
import { stateText, tone } from './status.js';

const PARTS = ['users', 'connections', 'held', 'dead-letters', 'audit', 'sign-in'];

function part() {
  const match = /^#\/admin\/([a-z-]+)/.exec(location.hash);
  return match && PARTS.includes(match[1]) ? match[1] : 'users';
}

function table(id, caption, columns, rows) {
  return h('div', { class: 'table-wrap' }, stackable(h('table', { id },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows))));
}

function when(value) {
  return value ? h('time', { datetime: value, title: dateTime(value) }, relative(value)) : t('common.never');
}

/** Asks in place before a consequential action; `run` does it. */
function confirmInPlace(button, question, yesLabel, run) {
  const box = h('span', { class: 'confirm inline-confirm' }, h('span', { class: 'confirm-text' }, question));
  const yes = h('button', { type: 'button', class: 'danger small', 'data-confirm': button.dataset.action }, yesLabel);
  const no = h('button', { type: 'button', class: 'secondary small' }, t('common.cancel'));
  box.append(yes, ' ', no);
  button.replaceWith(box);
  yes.focus();
  no.addEventListener('click', () => {
    box.replaceWith(button);
    button.focus();
  });
  yes.addEventListener('click', () => busy(yes, run));
}

async function usersPart(area, app, users) {
  const email = h('input', { type: 'email', id: 'new-user-email', autocomplete: 'off', required: true });
  const name = h('input', { type: 'text', id: 'new-user-name', autocomplete: 'off' });
  const password = h('input', { type: 'password', id: 'new-user-password', autocomplete: 'new-password' });
  const create = h('button', { type: 'submit', id: 'new-user-create', class: 'primary' }, t('admin.users.create'));
  const form = h('form', { id: 'admin-create-form', class: 'card', novalidate: true },
    h('h2', {}, t('admin.users.new')),
    h('div', { class: 'grid three' },
      field(t('admin.users.email'), email),
      field(t('admin.users.name'), name),
      field(t('admin.users.password'), password, { hint: t('admin.users.passwordHint') })),
    checkbox('new-user-admin', t('admin.users.isAdmin'), false),
    h('div', { class: 'actions' }, create));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!email.value.trim()) setFieldError('new-user-email', t('signin.emailMissing'));
    if (focusFirstError(form)) return;
    await busy(create, async () => {
      try {
        const body = { email: email.value.trim(), display_name: name.value.trim() || null, is_admin: document.getElementById('new-user-admin').checked };
        if (password.value) body.password = password.value;
        await api.post('/api/auth/v1/admin/users', body);
        await reload();
        announce(t('admin.users.created', { email: body.email }), 'success');
      } catch (error) {
        const target = { email: 'new-user-email', password: 'new-user-password' }[error.field]
          || (error.code === 'email_taken' || error.code === 'invalid_email' ? 'new-user-email' : error.code === 'weak_password' ? 'new-user-password' : null);
        if (!(target && setFieldError(target, errorText(error)))) setFormError(form, errorText(error));
        focusFirstError(form);
      }
    });
  });

  const list = h('div', { id: 'admin-users-area' });
  async function reload() {
    const answer = await api.get('/api/auth/v1/admin/users?limit=500');
    users.splice(0, users.length, ...(answer.users || []));
    draw();
  }

  function draw() {
    const rows = users.map((user) => {
      const actions = h('div', { class: 'actions' });
      const self = app.me && app.me.user_id === user.user_id;
      const act = (action, label, { danger = false, question, yes, run } = {}) => {
        const button = h('button', { type: 'button', class: `${danger ? 'danger' : 'secondary'} small`, 'data-action': action,
          'aria-label': `${label}: ${user.email}` }, label);
        button.addEventListener('click', () => (question
          ? confirmInPlace(button, question, yes, run)
          : busy(button, run)));
        actions.append(button);
      };
      const patch = (body, notice) => async () => {
        try {
          await api.call('PATCH', `/api/auth/v1/admin/users/${user.user_id}`, body);
          await reload();
          announce(notice, 'success');
        } catch (error) {
          announce(errorText(error), 'error');
        }
      };
      if (!self) {
        if (user.disabled) act('enable', t('admin.users.enable'), { run: patch({ disabled: false }, t('admin.users.enabled', { email: user.email })) });
        else {
          act('disable', t('admin.users.disable'), {
            danger: true,
            question: t('admin.users.disableConfirm', { email: user.email }),
            yes: t('admin.users.disableYes'),
            run: patch({ disabled: true }, t('admin.users.disabled', { email: user.email })),
          });
        }
      }
      if (user.totp_enabled) {
        act('reset-2fa', t('admin.users.reset2fa'), {
          danger: true,
          question: t('admin.users.reset2faConfirm', { email: user.email }),
          yes: t('admin.users.reset2faYes'),
          run: async () => {
            try {
              await api.del(`/api/auth/v1/admin/users/${user.user_id}/totp`);
              await reload();
              announce(t('admin.users.reset2faDone', { email: user.email }), 'success');
            } catch (error) {
              announce(errorText(error), 'error');
            }
          },
        });
      }
      act('sign-out', t('admin.users.signOut'), {
        question: t('admin.users.signOutConfirm', { email: user.email }),
        yes: t('admin.users.signOutYes'),
        run: async () => {
          try {
            const answer = await api.del(`/api/auth/v1/admin/users/${user.user_id}/sessions`);
            announce(t('admin.users.signedOut', { email: user.email, count: number((answer && answer.revoked) || 0) }), 'success');
          } catch (error) {
            announce(errorText(error), 'error');
          }
        },
      });
      // No e-mail channel: the administrator hands the one-time link over.
      const resetSlot = h('div', { class: 'reset-link', id: `reset-link-${user.user_id}` });
      act('reset-password', t('admin.users.resetPassword'), {
        question: t('admin.users.resetPasswordConfirm', { email: user.email }),
        yes: t('admin.users.resetPasswordYes'),
        run: async () => {
          try {
            const answer = await api.post(`/api/auth/v1/admin/users/${user.user_id}/password-reset`);
            const link = `${location.origin}${location.pathname}#/reset/${encodeURIComponent(answer.token)}`;
            resetSlot.replaceChildren(h('div', { class: 'secret-box' },
              h('p', {}, t('admin.users.resetLinkLead', { email: user.email, when: dateTime(answer.expires_at) })),
              h('code', { class: 'secret reset-url' }, link)));
          } catch (error) {
            announce(errorText(error), 'error');
          }
        },
      });
      const healthSlot = h('div', { class: 'user-health', id: `user-health-${user.user_id}` });
      act('health', t('admin.users.health'), { run: () => showHealth(user, healthSlot) });
      return h('tr', { 'data-email': user.email, class: user.disabled ? 'disabled' : '' },
        h('td', {}, h('strong', {}, user.email), user.display_name ? h('div', { class: 'hint' }, user.display_name) : null),
        h('td', {}, [user.is_admin ? t('admin.users.roleAdmin') : t('admin.users.roleUser'),
          user.disabled ? ` · ${t('admin.users.stateDisabled')}` : ''].join('')),
        h('td', {}, user.totp_enabled ? t('admin.users.twoFactorOn') : t('admin.users.twoFactorOff')),
        h('td', {}, dateTime(user.created_at)),
        h('td', {}, actions, resetSlot, healthSlot));
    });
    list.replaceChildren(table('admin-users', t('admin.users.title'),
      [t('admin.users.col.user'), t('admin.users.col.role'), t('admin.users.col.twoFactor'), t('admin.users.col.created'), t('admin.users.col.actions')], rows));
  }

  async function showHealth(user, slot) {
    try {
      const counts = await api.get(`/api/sync/v1/admin/users/${user.user_id}/links`);
      const byKind = {};
      for (const c of counts) {
        byKind[c.kind] = byKind[c.kind] || [];
        byKind[c.kind].push(`${t(`admin.link.${c.status}`)} ${number(c.count)}${c.failing ? ` (${t('admin.health.failing', { count: number(c.failing) })})` : ''}`);
      }
      const resync = h('button', { type: 'button', class: 'secondary small', 'data-action': 'resync', 'aria-label': `${t('admin.health.resync')}: ${user.email}` }, t('admin.health.resync'));
      resync.addEventListener('click', () => confirmInPlace(resync, t('admin.health.resyncConfirm', { email: user.email }), t('admin.health.resyncYes'), async () => {
        try {
          await api.post(`/api/sync/v1/admin/users/${user.user_id}/resync`);
          announce(t('admin.health.resyncStarted', { email: user.email }), 'success');
        } catch (error) {
          announce(errorText(error), 'error');
        }
      }));
      slot.replaceChildren(
        Object.keys(byKind).length === 0 ? h('p', { class: 'empty' }, t('admin.health.none'))
          : h('ul', { class: 'plain' }, Object.entries(byKind).map(([kind, parts]) => h('li', {}, h('strong', {}, t(`kind.${kind}`)), ': ', parts.join(', ')))),
        resync);
    } catch (error) {
      slot.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, errorText(error)));
    }
  }

  area.append(form, h('h2', {}, t('admin.users.title')), list);
  if (users.length === 0) await reload();
  else draw();
}

/** The states a connection can be in, worst first, as the filter offers them. */
const CONNECTION_STATES = ['reconnect_needed', 'allowance_used_up', 'throttled', 'provider_failing', 'connected'];

/** Each user's connections with their real state: auth-service's status joined by `web` with the
 * connectors' throttled, allowance-used-up and failing polls (`/api/admin/connections`). */
async function connectionsPart(area) {
  const status = h('select', { id: 'conn-status' },
    ['', ...CONNECTION_STATES].map((v) => h('option', { value: v }, v ? t(`admin.connections.state.${v}`) : t('admin.all'))));
  const provider = h('select', { id: 'conn-provider' },
    ['', 'outlook', 'zoho'].map((v) => h('option', { value: v }, v ? t(`provider.${v}`) : t('admin.all'))));
  const summary = h('div', { id: 'conn-summary', class: 'summary' });
  const results = h('div', { id: 'conn-results', 'aria-live': 'polite' }, h('p', { class: 'loading' }, t('common.loading')));
  async function load() {
    const query = new URLSearchParams();
    if (status.value) query.set('status', status.value);
    if (provider.value) query.set('provider', provider.value);
    query.set('limit', '500');
    try {
      const answer = await api.get(`/api/admin/connections?${query}`);
      summary.replaceChildren(...[
        h('ul', { class: 'chips' }, (answer.summary || []).map((s) =>
          h('li', { class: `badge state-${tone(s.state)}` }, `${t(`provider.${s.provider}`)} · ${t(`admin.connections.state.${s.state}`)}: ${number(s.count)}`))),
        // A connector that did not answer: its connections show only their stored status.
        ...(answer.unavailable || []).map((service) => h('p', { class: 'notice warning', id: `conn-unavailable-${service}` },
          t('status.stopped.unavailable', { service }))),
        answer.truncated ? h('p', { class: 'hint', id: 'conn-truncated' }, t('admin.connections.truncated')) : null,
      ].filter(Boolean));
      const rows = (answer.connections || []).map((c) => h('tr', { 'data-state': c.state, 'data-email': c.email, 'data-provider': c.provider },
        h('td', {}, c.email),
        h('td', {}, t(`provider.${c.provider}`)),
        h('td', {}, h('span', { class: `badge state-${tone(c.state)}` }, stateText(c)),
          c.reason ? h('div', { class: 'hint' }, t('connections.reasonRefused')) : null),
        h('td', {}, c.data_centre ? t(`dc.${c.data_centre}`) : (c.tenant || '—')),
        h('td', {}, when(c.last_refresh_at))));
      results.replaceChildren(rows.length === 0 ? h('p', { class: 'empty', id: 'conn-empty' }, t('admin.connections.none'))
        : table('admin-connections', t('admin.connections.title'),
          [t('admin.users.col.user'), t('admin.connections.col.provider'), t('admin.connections.col.state'), t('admin.connections.col.where'), t('admin.connections.col.refreshed')], rows));
    } catch (error) {
      results.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, errorText(error)));
    }
  }
  status.addEventListener('change', load);
  provider.addEventListener('change', load);
  area.append(h('div', { class: 'filters' },
    field(t('admin.connections.filterStatus'), status), field(t('admin.connections.filterProvider'), provider)),
  summary, results);
  await load();
}

async function heldPart(area, users) {
  const results = h('div', { id: 'held-results' }, h('p', { class: 'loading' }, t('common.loading')));
  area.append(h('p', { class: 'lead' }, t('admin.held.lead')), results);
  const emailOf = (id) => (users.find((u) => u.user_id === id) || {}).email || id;
  async function load() {
    let items;
    try {
      items = await api.get('/api/sync/v1/admin/held-deletions');
    } catch (error) {
      results.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, errorText(error)));
      return;
    }
    if (items.length === 0) {
      results.replaceChildren(h('p', { class: 'empty', id: 'held-empty' }, t('admin.held.none')));
      return;
    }
    const groups = new Map();
    for (const item of items) {
      const key = `${item.user_id}|${item.kind}|${item.deleted_by || ''}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(item);
    }
    let index = 0;
    results.replaceChildren(...[...groups.values()].map((group) => {
      index += 1;
      const { user_id: user, kind, deleted_by: side } = group[0];
      const other = side === 'zoho' ? 'outlook' : 'zoho';
      const gid = `held-group-${index}`;
      const boxes = group.map((item, i) => {
        const box = h('input', { type: 'checkbox', id: `${gid}-item-${i}`, value: item.link_id, checked: true });
        return h('li', {}, box, ' ', h('label', { for: box.id }, item.label || t('status.unnamed')),
          ' ', h('span', { class: 'hint' }, when(item.updated_at)));
      });
      const all = h('input', { type: 'checkbox', id: `${gid}-all`, checked: true });
      const preview = h('p', { class: 'preview', id: `${gid}-preview`, 'aria-live': 'polite' });
      const release = h('button', { type: 'button', class: 'danger', 'data-action': 'release' }, t('admin.held.release'));
      const discard = h('button', { type: 'button', class: 'secondary', 'data-action': 'discard' }, t('admin.held.discard'));
      const selected = () => [...section.querySelectorAll('ul input:checked')].map((b) => b.value);
      const params = () => ({ count: number(selected().length), side: t(`provider.${side}`), other: t(`provider.${other}`) });
      const refresh = () => {
        const count = selected().length;
        release.disabled = count === 0;
        discard.disabled = count === 0;
        preview.replaceChildren(
          h('span', { class: 'what-release' }, t('admin.held.previewRelease', params())), ' ',
          h('span', { class: 'what-discard' }, t('admin.held.previewDiscard', params())));
      };
      all.addEventListener('change', () => {
        for (const box of section.querySelectorAll('ul input')) box.checked = all.checked;
        refresh();
      });
      const decide = (action) => async () => {
        try {
          const answer = await api.post(`/api/sync/v1/admin/held-deletions/${action}`, { link_ids: selected() });
          await load();
          announce(t(`admin.held.${action}d`, { count: number(answer.decided.length) }), 'success');
        } catch (error) {
          announce(errorText(error), 'error');
        }
      };
      release.addEventListener('click', () => confirmInPlace(release, t('admin.held.previewRelease', params()), t('admin.held.releaseYes'), decide('release')));
      discard.addEventListener('click', () => busy(discard, decide('discard')));
      const section = h('section', { class: 'card held-group', 'data-user': emailOf(user), 'data-kind': kind, 'aria-labelledby': `${gid}-title` },
        h('h2', { id: `${gid}-title` }, t('admin.held.group', { user: emailOf(user), kind: t(`kind.${kind}`), count: number(group.length), side: t(`provider.${side}`) })),
        h('div', { class: 'field checkbox' }, all, h('label', { for: all.id }, t('admin.held.all'))),
        h('ul', { class: 'plain held-items', onchange: refresh }, boxes),
        preview,
        h('div', { class: 'actions' }, release, discard));
      refresh();
      return section;
    }));
  }
  await load();
}

function deadLetterSummary(payload) {
  try {
    const message = JSON.parse(payload);
    const body = message.body || message.payload || {};
    const type = body.type || message.type || Object.keys(body)[0] || '?';
    return { type, user: message.user_id || body.user_id || null };
  } catch {
    return { type: t('admin.dead.unreadable'), user: null };
  }
}

/** Users whose changes wait behind one that failed: retry it, or skip it to the dead letters. */
async function heldUsers(area, users, reloadLetters) {
  const emailOf = (id) => (users.find((u) => u.user_id === id) || {}).email || id;
  let held;
  try {
    held = await api.get('/api/sync/v1/admin/held-users');
  } catch (error) {
    area.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, errorText(error)));
    return;
  }
  if (held.length === 0) {
    area.replaceChildren(h('p', { class: 'empty', id: 'held-users-empty' }, t('admin.blocked.none')));
    return;
  }
  area.replaceChildren(...held.map((entry) => {
    const email = emailOf(entry.user_id);
    const act = (action, label, danger) => {
      const button = h('button', { type: 'button', class: `${danger ? 'danger' : 'secondary'} small`, 'data-action': action,
        'aria-label': `${label}: ${email}` }, label);
      const run = async () => {
        try {
          await api.post(`/api/sync/v1/admin/users/${entry.user_id}/unblock`, { action });
          announce(t(`admin.blocked.${action}Done`, { email }), 'success');
          await heldUsers(area, users, reloadLetters);
          await reloadLetters();
        } catch (error) {
          announce(errorText(error), 'error');
        }
      };
      button.addEventListener('click', () => (danger
        ? confirmInPlace(button, t('admin.blocked.skipConfirm', { email }), t('admin.blocked.skipYes'), run)
        : busy(button, run)));
      return button;
    };
    return h('section', { class: 'card held-user', 'data-user': email, 'data-state': entry.state },
      h('h3', {}, email, ' · ', t(`admin.blocked.state.${entry.state}`)),
      h('p', {}, t('admin.blocked.detail', { attempts: number(entry.attempts), waiting: number(entry.waiting_messages) }),
        ' ', when(entry.since)),
      entry.reason ? h('p', { class: 'hint' }, h('code', {}, entry.reason)) : null,
      h('div', { class: 'actions' }, act('retry', t('admin.blocked.retry'), false), act('skip', t('admin.blocked.skip'), true)));
  }));
}

async function deadLettersPart(area, users) {
  const results = h('div', { id: 'dead-results' }, h('p', { class: 'loading' }, t('common.loading')));
  const blocked = h('div', { id: 'held-users' }, h('p', { class: 'loading' }, t('common.loading')));
  area.append(h('h3', {}, t('admin.blocked.title')), h('p', { class: 'lead' }, t('admin.blocked.lead')), blocked,
    h('h3', {}, t('admin.dead.title')), h('p', { class: 'lead' }, t('admin.dead.lead')), results);
  const emailOf = (id) => (users.find((u) => u.user_id === id) || {}).email || id;
  async function load() {
    let letters;
    try {
      letters = await api.get('/api/sync/v1/admin/dead-letters');
    } catch (error) {
      results.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, errorText(error)));
      return;
    }
    if (letters.length === 0) {
      results.replaceChildren(h('p', { class: 'empty', id: 'dead-empty' }, t('admin.dead.none')));
      return;
    }
    const rows = letters.map((letter) => {
      const summary = deadLetterSummary(letter.payload);
      const replay = h('button', { type: 'button', class: 'secondary small', 'data-action': 'replay', 'aria-label': `${t('admin.dead.replay')} #${letter.id}` }, t('admin.dead.replay'));
      replay.addEventListener('click', () => busy(replay, async () => {
        try {
          await api.post(`/api/sync/v1/admin/dead-letters/${letter.id}/replay`);
          await load();
          announce(t('admin.dead.replayed', { id: letter.id }), 'success');
        } catch (error) {
          announce(errorText(error), 'error');
        }
      }));
      return h('tr', { 'data-id': letter.id },
        h('td', {}, `#${letter.id}`),
        h('td', {}, summary.type, h('div', { class: 'hint' }, letter.routing_key)),
        h('td', {}, summary.user ? emailOf(summary.user) : '—'),
        h('td', {}, when(letter.received_at)),
        h('td', {}, replay));
    });
    results.replaceChildren(table('dead-letters', t('admin.dead.title'),
      [t('admin.dead.col.id'), t('admin.dead.col.message'), t('admin.users.col.user'), t('admin.dead.col.received'), t('admin.users.col.actions')], rows));
  }
  await Promise.all([load(), heldUsers(blocked, users, load)]);
}

async function auditPart(area, users) {
  const who = h('select', { id: 'audit-user' },
    h('option', { value: '' }, t('admin.all')),
    users.map((u) => h('option', { value: u.user_id }, u.email)));
  const results = h('div', { id: 'audit-results', 'aria-live': 'polite' }, h('p', { class: 'loading' }, t('common.loading')));
  const emailOf = (id) => (users.find((u) => u.user_id === id) || {}).email || id || '—';
  async function load() {
    try {
      const query = new URLSearchParams({ limit: '200' });
      if (who.value) query.set('user_id', who.value);
      const answer = await api.get(`/api/auth/v1/admin/audit?${query}`);
      const events = answer.events || [];
      results.replaceChildren(events.length === 0 ? h('p', { class: 'empty', id: 'audit-empty' }, t('admin.audit.none'))
        : table('audit-log', t('admin.audit.title'), [t('admin.audit.col.when'), t('admin.audit.col.event'), t('admin.users.col.user'), t('admin.audit.col.provider')],
          events.map((e) => h('tr', {},
            h('td', {}, dateTime(e.occurred_at)),
            h('td', {}, t(`audit.${e.event}`) === `audit.${e.event}` ? String(e.event).replace(/_/g, ' ') : t(`audit.${e.event}`)),
            h('td', {}, emailOf(e.user_id)),
            h('td', {}, e.provider ? t(`provider.${e.provider}`) : '—')))));
    } catch (error) {
      results.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, errorText(error)));
    }
  }
  who.addEventListener('change', load);
  area.append(h('div', { class: 'filters' }, field(t('admin.audit.filterUser'), who)), results);
  await load();
}

export async function render(main, app) {
  if (!app.me || !app.me.is_admin) {
    main.append(h('h1', {}, t('admin.title')), h('p', { class: 'notice error', role: 'alert' }, t('error.forbidden')));
    return null;
  }
  const current = part();
  const nav = h('nav', { class: 'subnav', 'aria-label': t('admin.sections') }, h('ul', {},
    PARTS.map((p) => h('li', {}, h('a', { href: `#/admin/${p}`, id: `admin-tab-${p}`, 'aria-current': p === current ? 'page' : null }, t(`admin.part.${p}`))))));
  const area = h('div', { id: `admin-part-${current}` });
  main.append(h('h1', {}, t('admin.title')), nav, h('h2', { class: 'part-title' }, t(`admin.part.${current}`)), area);
  const users = [];
  if (current !== 'users' && current !== 'connections') {
    try {
      users.push(...((await api.get('/api/auth/v1/admin/users?limit=500')).users || []));
    } catch {
      // Ids stand in for e-mail addresses.
    }
  }
  const draw = { users: usersPart, connections: connectionsPart, held: heldPart, 'dead-letters': deadLettersPart, audit: auditPart, 'sign-in': signInPart }[current];
  await (current === 'users' ? draw(area, app, users) : draw(area, users));
  return null;
}
