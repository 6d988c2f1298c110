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

/** A conflict value (any JSON) as short text. */
export function value(v) {
  if (v === null || v === undefined || v === '') return t('conflicts.empty');
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map(value).join(', ');
  return JSON.stringify(v);
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
