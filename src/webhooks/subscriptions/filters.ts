import { eventTypes } from '../../events/catalog.js';

/**
 * Event type filters of a subscription: an exact type (`user.login`), a wildcard over a dotted prefix
 * (`user.*` matches `user.login` and `user.login.failed`; `user.session.*` matches
 * `user.session.revoked`), or `*` for every type.
 */
export function filterMatches(filter: string, type: string): boolean {
  if (filter === '*') return true;
  if (filter.endsWith('.*')) return type.startsWith(filter.slice(0, -1));
  return filter === type;
}

export function matchesAny(filters: readonly string[], type: string): boolean {
  return filters.some((filter) => filterMatches(filter, type));
}

/** The filters that match no known event type (so are refused), given the catalogue. */
export function unknownFilters(filters: readonly string[], known: readonly string[] = eventTypes): string[] {
  return filters.filter((filter) => !known.some((type) => filterMatches(filter, type)));
}
