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
  // Never the server's or a provider's own text: it may be English, JSON or a developer's words.
  if (error && error.code) return t('error.unknown', { code: error.code });
  return t('error.internal');
}

/**
 * An item the sync could not write, in words: `{text, todo}` from its stable code (and the field
 * the provider named), never the provider's own message.
 */
export function itemProblem(item) {
  const field = item.field ? t(`zohoField.${item.field}`) : '';
  const fieldName = field && field !== `zohoField.${item.field}` ? field : (item.field || '').replace(/_/g, ' ');
  const provider = item.side ? t(`provider.${item.side}`) : '';
  const other = item.side ? t(`provider.${item.side === 'zoho' ? 'outlook' : 'zoho'}`) : '';
  const params = { field: fieldName, provider, other, code: item.code };
  const known = has(`problem.${item.code}`);
  const key = known ? `problem.${item.code}` : 'problem.unknown';
  const todoKey = item.code === 'MANDATORY_NOT_FOUND' && item.field ? `problem.MANDATORY_NOT_FOUND.${item.field}.todo` : null;
  const todo = todoKey && has(todoKey) ? t(todoKey, params) : (has(`${key}.todo`) ? t(`${key}.todo`, params) : null);
  return { text: t(key, params), todo };
}
