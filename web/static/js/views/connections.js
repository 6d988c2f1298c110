// The two accounts: each connection's state and health, connect / reconnect (Zoho CRM with its
// data centre, Outlook with an optional organisation) and disconnect.
import * as api from '../api.js';
import { busy, clearErrors, field, h, setFieldError, setFormError } from '../dom.js';
import { dateTime, relative } from '../format.js';
import { errorText, t } from '../i18n.js';
import { stateText } from './status.js';

export const DATA_CENTRES = ['com', 'eu', 'in', 'com.au', 'jp', 'ca', 'sa', 'com.cn'];

function badge(state) {
  return h('span', { class: `badge ${state}`, id: null }, t(`connections.state.${state}`));
}

/** A detail whose value comes later: "Loading…" until `promise` gives the text (or nothing,
 * which removes the line). The card is drawn at once, whatever the providers take to answer. */
function later(term, promise, id) {
  const dt = h('dt', {}, term);
  const dd = h('dd', { id, 'aria-busy': 'true', class: 'loading' }, t('common.loading'));
  promise.then((text) => {
    dd.removeAttribute('aria-busy');
    dd.classList.remove('loading');
    if (text) dd.textContent = text;
    else {
      dt.remove();
      dd.remove();
    }
  }, () => {
    dt.remove();
    dd.remove();
  });
  return [dt, dd];
}

function detail(term, value, id) {
  return [h('dt', {}, term), h('dd', { id }, value)];
}

function card(provider, connection, extra, app, reload) {
  const state = connection ? connection.status : 'not_connected';
  const connected = state === 'connected';
  const title = t(`provider.${provider}`);
  const details = h('dl', { class: 'details' });
  if (connection && state !== 'not_connected') {
    if (provider === 'zoho' && connection.data_centre) {
      details.append(...detail(t('connections.dataCentre'), t(`dc.${connection.data_centre}`), 'zoho-dc-current'));
    }
    if (provider === 'outlook' && connection.tenant && connection.tenant !== 'common') {
      details.append(...detail(t('connections.tenant'), connection.tenant));
    }
    if (connected && extra.account) details.append(...later(t('connections.account'), extra.account, `${provider}-account`));
    if (connected && extra.org) details.append(...later(t('connections.org'), extra.org, `${provider}-org`));
    details.append(...detail(t('connections.connectedAt'), dateTime(connection.connected_at)));
    if (connection.reason) details.append(...detail(t('connections.reason'), t('connections.reasonRefused'), `${provider}-reason`));
    if (connected) details.append(...later(t('connections.health'), extra.health, `${provider}-health`));
  }

  const form = h('form', { id: `${provider}-form`, class: 'connect-form', novalidate: true });
  if (provider === 'zoho') {
    const select = h('select', { id: 'zoho-dc', name: 'data_centre' },
      DATA_CENTRES.map((dc) => h('option', { value: dc, selected: dc === ((connection && connection.data_centre) || 'com') }, t(`dc.${dc}`))));
    form.append(field(t('connections.dataCentre'), select, { hint: t('connections.dataCentreHint') }));
  } else {
    const tenant = h('input', { type: 'text', id: 'outlook-tenant', name: 'tenant', placeholder: 'common', autocomplete: 'off', spellcheck: 'false',
      value: connection && connection.tenant && connection.tenant !== 'common' ? connection.tenant : '' });
    form.append(field(t('connections.tenantOptional'), tenant, { hint: t('connections.tenantHint') }));
  }
  const label = state === 'not_connected' ? t('connections.connect', { provider: title }) : t('connections.reconnect', { provider: title });
  const connect = h('button', { type: 'submit', id: `${provider}-connect`, class: state === 'connected' ? 'secondary' : 'primary' }, label);
  const actions = h('div', { class: 'actions' }, connect);
  if (state !== 'not_connected') {
    const disconnect = h('button', { type: 'button', id: `${provider}-disconnect`, class: 'danger' }, t('connections.disconnect'));
    disconnect.addEventListener('click', () => confirmDisconnect(disconnect));
    actions.append(disconnect);
  }
  form.append(actions);

  function confirmDisconnect(button) {
    const confirmBox = h('div', { class: 'confirm', role: 'group', 'aria-label': t('connections.disconnectConfirm', { provider: title }) },
      h('p', {}, t('connections.disconnectConfirm', { provider: title })));
    const yes = h('button', { type: 'button', class: 'danger', id: `${provider}-disconnect-confirm` }, t('connections.disconnectYes'));
    const no = h('button', { type: 'button', class: 'secondary' }, t('common.cancel'));
    confirmBox.append(h('div', { class: 'actions' }, yes, no));
    button.replaceWith(confirmBox);
    yes.focus();
    no.addEventListener('click', () => reload());
    yes.addEventListener('click', () => busy(yes, async () => {
      try {
        await api.del(`/api/auth/v1/connections/${provider}`);
        await reload(t('connections.disconnected', { provider: title }));
      } catch (error) {
        setFormError(form, errorText(error));
      }
    }));
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const options = provider === 'zoho'
      ? { data_centre: document.getElementById('zoho-dc').value }
      : (document.getElementById('outlook-tenant').value.trim() ? { tenant: document.getElementById('outlook-tenant').value.trim() } : {});
    await busy(connect, async () => {
      try {
        const answer = await api.post(`/api/auth/v1/connections/${provider}/authorize`, options);
        // Off to the provider's consent page, which sends the browser back to this page. The
        // user's e-mail address pre-fills the provider's sign-in (`login_hint`).
        const target = new URL(answer.authorization_url);
        if (app.me && app.me.email && !target.searchParams.has('login_hint')) {
          target.searchParams.set('login_hint', app.me.email);
        }
        location.assign(target.toString());
      } catch (error) {
        const target = { data_centre: 'zoho-dc', tenant: 'outlook-tenant' }[error.field];
        if (!(target && setFieldError(target, errorText(error)))) setFormError(form, errorText(error));
      }
    });
  });

  const describe = state === 'connected' ? null : h('p', { class: 'hint' }, t(`connections.explain.${state}`));
  // Zoho's own application-specific passwords are gone; ours are for this system's API clients.
  const note = provider === 'zoho' ? h('p', { class: 'hint', id: 'zoho-no-app-password' }, t('connections.zohoNoAppPassword')) : null;
  return h('section', { class: `card connection ${state}`, id: `${provider}-card`, 'aria-labelledby': `${provider}-title` },
    h('div', { class: 'card-head' }, h('h2', { id: `${provider}-title` }, title), h('span', { id: `${provider}-status` }, badge(state))),
    describe, details.childElementCount ? details : null, note, form);
}

export async function render(main, app, message) {
  const answer = await api.get('/api/auth/v1/connections');
  const byProvider = Object.fromEntries((answer.connections || []).map((c) => [c.provider, c]));
  const zoho = byProvider.zoho;
  const outlook = byProvider.outlook;
  const ask = (provider, url) => (byProvider[provider] && byProvider[provider].status === 'connected' ? api.get(url) : null);
  // The cards are drawn now; what the providers say fills them in as it comes (a throttled
  // Zoho answers late, or not at all, and must not hold the page).
  const account = (user) => (user && (user.full_name || user.display_name || user.email)
    ? [user.full_name || user.display_name, user.email && `<${user.email}>`].filter(Boolean).join(' ') : null);
  const overview = api.get('/api/status');
  const health = (side) => overview.then((o) => {
    const state = o.connections && o.connections[side];
    if (!state) return null;
    const polled = Object.values(state.kinds || {}).map((k) => k.last_polled_at).filter(Boolean).sort().pop();
    if (Object.keys(state.kinds || {}).length === 0) return t('connections.health.idle');
    return polled ? `${stateText(state)} · ${t('connections.lastPolled', { when: relative(polled) })}` : stateText(state);
  });

  const reload = async (notice) => {
    const fresh = document.createElement('div');
    await render(fresh, app, notice);
    main.replaceChildren(...fresh.childNodes);
    const heading = main.querySelector('h1');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus();
    }
  };

  main.append(
    h('h1', {}, t('connections.title')),
    h('p', { class: 'lead' }, t('connections.lead')),
    message ? h('p', { class: 'notice success', role: 'status' }, message) : '',
    h('div', { class: 'grid two' },
      card('zoho', zoho, {
        account: ask('zoho', '/api/discovery/zoho/user')?.then(account),
        org: ask('zoho', '/api/discovery/zoho/org')?.then((o) => (o && o.company_name) || null),
        health: health('zoho'),
      }, app, reload),
      card('outlook', outlook, {
        account: ask('outlook', '/api/discovery/outlook/mailbox')?.then(account),
        health: health('outlook'),
      }, app, reload)),
  );
}
