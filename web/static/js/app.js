// The shell: header with navigation and the language switch, the router (`#/status`, ...), the
// session's start (restored from the cookie after a reload or the OAuth round trip) and its end.
import * as api from './api.js';
import { announce, clear, h } from './dom.js';
import { LANGUAGES, errorText, getLang, onLangChange, setLang, t } from './i18n.js';
import * as signin from './views/signin.js';
import * as status from './views/status.js';
import * as connections from './views/connections.js';
import * as settings from './views/settings.js';
import * as conflicts from './views/conflicts.js';
import * as security from './views/security.js';
import * as sso from './sso.js';
import * as admin from './views/admin.js';
import * as reset from './views/reset.js';

const VIEWS = { status, connections, settings, conflicts, security, admin };
const NAV = ['status', 'connections', 'settings', 'conflicts', 'security'];
const DEFAULT_VIEW = 'status';

let pendingNotice = null;

/** A notice to show once the next screen is rendered (notices never outlive their screen). */
function noticeAfterRoute(text, kind = 'info') {
  pendingNotice = { text, kind };
}

const app = {
  me: null,
  cleanup: null,
  /** Set by a view with unsaved changes: returns true when the user may leave it. */
  leaveGuard: null,
  /** Reloads the signed-in user (after enabling 2FA, ...). */
  async reloadMe() {
    app.me = await api.get('/api/auth/v1/me');
    renderHeader();
    return app.me;
  },
  navigate(view) {
    if (location.hash === `#/${view}`) route();
    else location.hash = `#/${view}`;
  },
  async signedIn() {
    await app.reloadMe();
    const target = currentView();
    app.navigate(target === 'signin' ? DEFAULT_VIEW : target);
  },
};

function currentView() {
  const match = /^#\/([a-z-]+)/.exec(location.hash);
  if (match && (VIEWS[match[1]] || match[1] === 'signin' || match[1] === 'reset')) return match[1];
  return DEFAULT_VIEW;
}

function renderHeader() {
  const header = clear(document.getElementById('topbar'));
  const view = currentView();
  header.append(
    h('a', { class: 'skip-link', href: '#main', onclick: (event) => {
      event.preventDefault();
      document.getElementById('main').focus();
    } }, t('app.skip')),
    h('div', { class: 'brand' },
      h('span', { class: 'logo', 'aria-hidden': 'true' }, '⇄'),
      h('span', {}, t('app.title'))),
  );
  if (app.me) {
    const list = h('ul', {});
    for (const name of app.me.is_admin ? [...NAV, 'admin'] : NAV) {
      list.append(h('li', {}, h('a', {
        href: `#/${name}`,
        id: `nav-${name}`,
        'aria-current': name === view ? 'page' : null,
      }, t(`nav.${name}`))));
    }
    header.append(h('nav', { 'aria-label': t('nav.label') }, list));
  }
  const select = h('select', { id: 'lang', onchange: (event) => setLang(event.target.value) },
    LANGUAGES.map((l) => h('option', { value: l.code, selected: l.code === getLang(), lang: l.code }, l.name)));
  const tools = h('div', { class: 'tools' },
    h('div', { class: 'lang-switch' }, h('label', { for: 'lang' }, t('app.language')), select));
  if (app.me) {
    tools.append(
      h('span', { class: 'who', id: 'who' }, app.me.email),
      h('button', { type: 'button', id: 'sign-out', class: 'secondary', onclick: signOut }, t('app.signOut')),
    );
  }
  header.append(tools);
}

async function signOut() {
  try {
    await api.signOut();
  } catch {
    // The session is dropped here either way.
  }
  app.me = null;
  noticeAfterRoute(t('app.signedOut'));
  if (location.hash === '#/signin') route();
  else location.hash = '#/signin';
}

let routeGeneration = 0;

/** The values typed into the view's fields, by id (to draw the view again in another language
 * without losing them). */
function snapshotFields() {
  const values = new Map();
  for (const control of document.querySelectorAll('main input[id], main select[id], main textarea[id]')) {
    if (control.type === 'checkbox' || control.type === 'radio') values.set(control.id, { checked: control.checked });
    else values.set(control.id, { value: control.value });
  }
  return values;
}

function restoreFields(values) {
  for (const [id, saved] of values) {
    const control = document.getElementById(id);
    if (!control || !document.getElementById('main').contains(control)) continue;
    const changed = 'checked' in saved ? control.checked !== saved.checked : control.value !== saved.value;
    if (!changed) continue;
    if ('checked' in saved) control.checked = saved.checked;
    else control.value = saved.value;
    control.dispatchEvent(new Event('change', { bubbles: true }));
  }
}

async function route({ keepFields = false } = {}) {
  const generation = ++routeGeneration;
  const fields = keepFields ? snapshotFields() : null;
  if (app.cleanup) {
    app.cleanup();
    app.cleanup = null;
  }
  app.leaveGuard = null;
  const langFocused = document.activeElement && document.activeElement.id === 'lang';
  announce(null);
  const main = clear(document.getElementById('main'));
  // A password reset link opens its own view, signed in or not.
  const name = currentView() === 'reset' ? 'reset'
    : !app.me ? 'signin' : currentView() === 'signin' ? DEFAULT_VIEW : currentView();
  renderHeader();
  const view = name === 'signin' ? signin : name === 'reset' ? reset : VIEWS[name];
  const titleKey = { signin: 'signin.title', reset: 'reset.title' }[name] || `nav.${name}`;
  document.title = `${t(titleKey)} · ${t('app.title')}`;
  try {
    const cleanup = await view.render(main, app);
    if (generation !== routeGeneration) {
      if (typeof cleanup === 'function') cleanup();
      return;
    }
    app.cleanup = typeof cleanup === 'function' ? cleanup : null;
    if (fields) restoreFields(fields);
  } catch (error) {
    if (generation !== routeGeneration) return;
    main.append(h('p', { class: 'form-error', role: 'alert' }, errorText(error)));
  }
  if (pendingNotice) {
    announce(pendingNotice.text, pendingNotice.kind);
    pendingNotice = null;
  }
  // Move focus to the new view's heading, so keyboard and screen-reader users land on it.
  const heading = main.querySelector('h1');
  if (langFocused) {
    document.getElementById('lang').focus();
  } else if (heading && !main.contains(document.activeElement)) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
}

/** The outcome of an OAuth round trip, from auth-service's redirect back to the page. */
function oauthOutcome() {
  const params = new URLSearchParams(location.search);
  const provider = params.get('provider');
  const outcome = params.get('status');
  if (!provider || !outcome) return null;
  history.replaceState(null, '', `${location.pathname}${location.hash || '#/connections'}`);
  const name = t(`provider.${provider}`);
  if (outcome === 'connected') return { text: t('connections.connectedNotice', { provider: name }), kind: 'success' };
  const code = params.get('code') || 'internal';
  return { text: t('connections.failedNotice', { provider: name, reason: errorText({ code }) }), kind: 'error' };
}

/** Back from an identity provider: redeems the ticket; true when that signed the user in. */
async function singleSignOn() {
  const outcome = sso.takeOutcome();
  if (!outcome) return false;
  const name = await sso.providerName(outcome.provider);
  if (outcome.error) {
    noticeAfterRoute(t('signin.ssoFailed', { provider: name, reason: errorText({ code: outcome.error }) }), 'error');
    return false;
  }
  if (outcome.link) {
    // The account exists: its owner confirms with the password on the sign-in screen.
    sso.setPending({ ...outcome, name });
    return false;
  }
  try {
    await sso.redeem(outcome);
    app.me = await api.get('/api/auth/v1/me');
    history.replaceState(null, '', `${location.pathname}#/${DEFAULT_VIEW}`);
    return true;
  } catch (error) {
    if (error.code === 'second_factor_required') sso.setPending({ ...outcome, name, secondFactor: true });
    else noticeAfterRoute(t('signin.ssoFailed', { provider: name, reason: errorText(error) }), 'error');
    return false;
  }
}

async function boot() {
  setLang(getLang(), { remember: false });
  onLangChange(() => route({ keepFields: true }));
  api.onSignedOut(() => {
    app.me = null;
    noticeAfterRoute(t('app.sessionEnded'), 'error');
    if (location.hash === '#/signin') route();
    else location.hash = '#/signin';
  });
  // Leaving a view with unsaved changes asks first; "stay" puts the address back.
  let shownHash = location.hash;
  let restoring = false;
  window.addEventListener('hashchange', () => {
    if (location.hash === '#main') return;
    if (restoring) {
      restoring = false;
      return;
    }
    if (app.me && app.leaveGuard && !app.leaveGuard()) {
      restoring = true;
      location.hash = shownHash;
      return;
    }
    shownHash = location.hash;
    route();
  });
  window.addEventListener('beforeunload', (event) => {
    if (app.me && app.leaveGuard && app.leaveGuard.dirty && app.leaveGuard.dirty()) event.preventDefault();
  });
  const notice = oauthOutcome();
  if (notice) noticeAfterRoute(notice.text, notice.kind);
  if (await singleSignOn()) {
    await route();
    return;
  }
  try {
    if (await api.restore()) {
      await app.reloadMe();
      // A (re)connected account: poll now rather than when the paused watches look again.
      // Before any settings exist there is nothing to poll, which is fine.
      if (notice && notice.kind === 'success') api.post('/api/sync/v1/sync-now').catch(() => {});
    }
  } catch (error) {
    noticeAfterRoute(errorText(error), 'error');
  }
  await route();
}

boot();
