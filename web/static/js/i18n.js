// English and Japanese: picked from the browser's languages, remembered when switched.
import { messages } from './messages.js';

const STORAGE_KEY = 'ozs.lang';
export const LANGUAGES = [
  { code: 'en', name: 'English' },
  { code: 'ja', name: '日本語' },
];

function stored() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

/** The user's choice, else the first browser language we have, else English. */
export function detect() {
  const choice = stored();
  if (choice && messages[choice]) return choice;
  for (const tag of navigator.languages || [navigator.language || 'en']) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (messages[base]) return base;
  }
  return 'en';
}

let lang = detect();
const listeners = new Set();

export function getLang() {
  return lang;
}

export function setLang(code, { remember = true } = {}) {
  if (!messages[code]) return;
  lang = code;
  if (remember) {
    try {
      localStorage.setItem(STORAGE_KEY, code);
    } catch {
      // Private mode: the choice lasts for this page only.
    }
  }
  document.documentElement.lang = code;
  for (const listener of listeners) listener(code);
}

export function onLangChange(listener) {
  listeners.add(listener);
}

/** The message `key` with `{name}` placeholders filled from `params`. */
export function t(key, params) {
  const text = messages[lang][key] ?? messages.en[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

export function has(key) {
  return Boolean(messages[lang][key] || messages.en[key]);
}

/** A readable message for an API error: ours by its code when we have one, else the server's. */
export function errorText(error) {
  if (error && error.code) {
    const key = `error.${error.code}`;
    if (messages[lang][key] || messages.en[key]) {
      return t(key, { seconds: error.retryAfter ?? '', message: error.message ?? '' });
    }
  }
  if (error && error.status === 0) return t('error.network');
  return (error && error.message) || t('error.internal');
}
