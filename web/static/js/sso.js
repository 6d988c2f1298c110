// Single sign-on: the providers the sign-in screen offers, and the page's half of the round
// trip. auth-service sends the browser back to `#/sso?provider=&ticket=&link=0|1` (or
// `#/sso?provider=&error=<code>`); the one-time ticket goes to `/api/session` like a password
// would, so the session cookie is set the same way. The ticket stays in this module's memory
// only, and the address bar is cleaned at once.
import * as api from './api.js';

const KEEP_KEY = 'ozs.sso.keep';
let pending = null;

/** The outcome in the address, taken out of it: `{ provider, ticket, link }`, `{ provider, error }` or null. */
export function takeOutcome() {
  const match = /^#\/sso\?(.*)$/.exec(location.hash);
  if (!match) return null;
  const params = new URLSearchParams(match[1]);
  history.replaceState(null, '', `${location.pathname}#/signin`);
  const provider = params.get('provider') || '';
  if (params.get('error')) return { provider, error: params.get('error') };
  const ticket = params.get('ticket');
  if (!ticket) return null;
  return { provider, ticket, link: params.get('link') === '1' };
}

/** A ticket that still needs something from the person (a password to link, a second factor). */
export function pendingTicket() {
  return pending;
}

export function setPending(value) {
  pending = value;
}

/** What the sign-in screen offers; never throws (no providers when auth-service is away). */
export async function options() {
  try {
    const response = await fetch('/api/auth/v1/sso/providers', { headers: { Accept: 'application/json' }, cache: 'no-store' });
    if (!response.ok) return { providers: [], password_sign_in: true };
    return await response.json();
  } catch {
    return { providers: [], password_sign_in: true };
  }
}

/** The display name of a provider id (the id when it is unknown). */
export async function providerName(id) {
  const found = (await options()).providers.find((p) => p.id === id);
  return found ? found.name : id;
}

/** Leaves for the provider, remembering "keep me signed in" for the way back. */
export function start(providerId, keepSignedIn) {
  try {
    sessionStorage.setItem(KEEP_KEY, keepSignedIn ? '1' : '0');
  } catch {
    // Private mode: a short session then.
  }
  location.assign(`/api/auth/v1/sso/${encodeURIComponent(providerId)}/authorize`);
}

function keepSignedIn() {
  try {
    return sessionStorage.getItem(KEEP_KEY) === '1';
  } catch {
    return false;
  }
}

/** Redeems a ticket (with `extra`: password, totp_code, recovery_code). */
export async function redeem(ticket, extra = {}) {
  const pair = await api.signIn({ sso_ticket: ticket.ticket, keep_signed_in: keepSignedIn(), ...extra });
  pending = null;
  return pair;
}
