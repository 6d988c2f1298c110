// Dates, times and numbers in the page's language.
import { getLang, t } from './i18n.js';

export function dateTime(value) {
  if (!value) return t('common.never');
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return new Intl.DateTimeFormat(getLang(), { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}

/** "3 minutes ago", with the exact time as a tooltip by the caller. */
export function relative(value) {
  if (!value) return t('common.never');
  const date = new Date(value);
  const seconds = Math.round((date.getTime() - Date.now()) / 1000);
  const format = new Intl.RelativeTimeFormat(getLang(), { numeric: 'auto' });
  const abs = Math.abs(seconds);
  if (abs < 45) return format.format(0, 'second');
  if (abs < 3600) return format.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return format.format(Math.round(seconds / 3600), 'hour');
  return format.format(Math.round(seconds / 86400), 'day');
}

export function number(value) {
  return new Intl.NumberFormat(getLang()).format(value);
}

export function shortDateTime(value) {
  if (!value) return t('common.never');
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return new Intl.DateTimeFormat(getLang(), { dateStyle: 'short', timeStyle: 'short' }).format(date);
}

const ADDRESS_PARTS = ['street', 'city', 'state', 'postal_code', 'country'];

/** A conflict value (any JSON: text, lists, addresses, times) as short readable text. */
export function value(v) {
  if (v === null || v === undefined || v === '') return t('conflicts.empty');
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.length ? v.map(value).join(', ') : t('conflicts.empty');
  if (ADDRESS_PARTS.some((part) => part in v)) {
    const parts = ADDRESS_PARTS.map((part) => v[part]).filter((p) => p);
    return parts.length ? parts.join(', ') : t('conflicts.empty');
  }
  if (v.date_time || v.dateTime) return `${v.date_time || v.dateTime} ${v.time_zone || v.timeZone || ''}`.trim();
  if (v.email || v.address || v.name) return [v.name, v.email || v.address].filter(Boolean).join(' ');
  const leaves = Object.values(v).filter((x) => x !== null && typeof x !== 'object' && x !== '');
  return leaves.length ? leaves.join(', ') : JSON.stringify(v);
}

/** A field name of the canonical model (`job_title`) as a label in the page's language. */
export function fieldName(name) {
  const key = `field.${name}`;
  const text = t(key);
  if (text !== key) return text;
  const words = String(name).replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A user agent as "Chrome on Linux" (good enough to tell sessions apart). */
export function device(agent) {
  if (!agent) return t('security.unknownDevice');
  const browser = /Edg\//.test(agent) ? 'Edge'
    : /Chrome\//.test(agent) ? 'Chrome'
      : /Firefox\//.test(agent) ? 'Firefox'
        : /Safari\//.test(agent) ? 'Safari'
          : agent.split(/[ /]/)[0];
  const os = /Windows/.test(agent) ? 'Windows'
    : /Mac OS X|Macintosh/.test(agent) ? 'macOS'
      : /Android/.test(agent) ? 'Android'
        : /iPhone|iPad/.test(agent) ? 'iOS'
          : /Linux/.test(agent) ? 'Linux' : null;
  return os ? t('security.deviceOn', { browser, os }) : browser;
}

/** A time of day (`14:05`), with the date when it is not today. */
export function time(value) {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const today = new Date().toDateString() === date.toDateString();
  const options = today ? { timeStyle: 'short' } : { dateStyle: 'medium', timeStyle: 'short' };
  return new Intl.DateTimeFormat(getLang(), options).format(date);
}
