// Calls to `web`'s API. The access token lives in this module's memory only; the refresh token is
// in an HttpOnly cookie that this code never sees. An expiring or refused access token is
// renewed through `/api/session/refresh`, one refresh at a time across the browser's tabs (the
// refresh token rotates, and replaying a rotated one ends the session).

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.field = body && body.field;
    this.retryAfter = retryAfter;
  }
}

let accessToken = null;
let expiresAt = 0;
let refreshing = null;
const signedOutListeners = new Set();

/** Called when the session is over (expired, revoked, signed out elsewhere). */
export function onSignedOut(listener) {
  signedOutListeners.add(listener);
}

function remember(pair) {
  accessToken = pair.access_token;
  expiresAt = Date.now() + (pair.expires_in || 60) * 1000;
  return pair;
}

function forget() {
  accessToken = null;
  expiresAt = 0;
}

async function request(method, url, { body, token } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, { code: 'network', message: 'network error' });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  }
  if (!response.ok) {
    const retryAfter = response.headers.get('Retry-After');
    throw new ApiError(response.status, data, retryAfter ? Number(retryAfter) : undefined);
  }
  return data;
}

function withLock(work) {
  if (navigator.locks && navigator.locks.request) {
    return navigator.locks.request('ozs-session-refresh', work);
  }
  return work();
}

/** A new access token from the session cookie; throws when there is no session. */
export function refresh() {
  if (!refreshing) {
    refreshing = withLock(() => request('POST', '/api/session/refresh'))
      .then(remember)
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/** Picks up this browser's session after a reload; false when there is none. */
export async function restore() {
  try {
    await refresh();
    return true;
  } catch (error) {
    if (error.status === 401 || error.status === 403) return false;
    throw error;
  }
}

export async function signIn(credentials) {
  return remember(await request('POST', '/api/session', { body: credentials }));
}

export async function signOut() {
  try {
    await request('DELETE', '/api/session', { token: accessToken });
  } finally {
    forget();
  }
}

export function signedIn() {
  return accessToken !== null;
}

async function validToken() {
  if (!accessToken || Date.now() > expiresAt - 30_000) {
    try {
      await refresh();
    } catch (error) {
      if (error.status === 401) {
        forget();
        for (const listener of signedOutListeners) listener();
      }
      throw error;
    }
  }
  return accessToken;
}

/** An authenticated call; a token the server no longer accepts is renewed once. */
export async function call(method, url, body) {
  const token = await validToken();
  try {
    return await request(method, url, { body, token });
  } catch (error) {
    if (error.status === 401 && error.code === 'unauthenticated') {
      forget();
      return request(method, url, { body, token: await validToken() });
    }
    throw error;
  }
}

/** A call that needs no session (a password reset link). */
export const anonymousPost = (url, body) => request('POST', url, { body: body ?? {} });

export const get = (url) => call('GET', url);
export const post = (url, body) => call('POST', url, body ?? {});
export const put = (url, body) => call('PUT', url, body);
export const del = (url, body) => call('DELETE', url, body);

/**
 * Listens to a server-sent-events endpoint of `web` with the access token (EventSource cannot
 * send one): `onEvent(name, data)` for each event. Reopens after the server ends the stream (it
 * does every few minutes, so a fresh token is used) or after a network error, until `signal`
 * aborts. `onTrouble(error)` is told when a connection fails.
 */
export async function listen(url, { onEvent, onTrouble, signal }) {
  while (!signal.aborted) {
    try {
      const token = await validToken();
      const response = await fetch(url, {
        headers: { Accept: 'text/event-stream', Authorization: `Bearer ${token}` },
        credentials: 'same-origin',
        cache: 'no-store',
        signal,
      });
      if (response.status === 401) {
        forget();
        continue;
      }
      if (!response.ok || !response.body) throw new ApiError(response.status, { code: 'upstream_unavailable' });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let name = 'message';
          const data = [];
          for (const line of frame.split('\n')) {
            if (line.startsWith('event:')) name = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (data.length) onEvent(name, JSON.parse(data.join('\n')));
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error.status === 401) return;
      if (onTrouble) onTrouble(error instanceof ApiError ? error : new ApiError(0, { code: 'network' }));
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  }
}
