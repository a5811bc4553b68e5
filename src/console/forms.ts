import type { Context } from 'hono';
import { validate as isUuid } from 'uuid';
import { AppError } from '../errors.js';

/** A parsed form's text fields (files and repeated fields left out), trimmed, without the CSRF token. */
export function formText(form: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(form)) {
    if (name !== '_csrf' && typeof value === 'string') out[name] = value.trim();
  }
  return out;
}

/** A path parameter that must be a UUID: anything else is a page that does not exist. */
export function uuidParam(c: Context, name: string): string {
  const value = c.req.param(name) ?? '';
  if (!isUuid(value)) throw new AppError('not_found', 'No such page.');
  return value;
}

/**
 * A date-time field's value (`datetime-local`, taken as UTC, or a full RFC 3339 instant) as ISO text;
 * undefined when empty, null when it is not a date.
 */
export function instantOf(value: string | undefined): string | undefined | null {
  if (!value) return undefined;
  const text = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(value)
    ? `${value}:00Z`
    : /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$/.test(value)
      ? `${value}Z`
      : value;
  const ms = Date.parse(text);
  return Number.isFinite(ms) && ms >= 0 && ms < Date.parse('10000-01-01T00:00:00Z')
    ? new Date(ms).toISOString()
    : null;
}

/** After a change: back to a console page (Post/Redirect/Get), with a notice it shows. */
export const backTo = (c: Context, path: string, notice: string) =>
  c.redirect(`/console${path}?notice=${encodeURIComponent(notice)}`, 303);
