import { describe, expect, it } from 'vitest';
import { typeFilter } from '../../src/audit/queries.js';
import { occurredBefore, occurredSince } from '../../src/audit/time-bounds.js';
import { chUtcDateTime } from '../../src/clickhouse/sql.js';

describe('audit SQL', () => {
  it('writes instants as UTC DateTime literals, to the second, within what a DateTime holds', () => {
    expect(chUtcDateTime(Date.parse('2026-03-01T23:30:00.999Z'))).toBe(
      "toDateTime('2026-03-01 23:30:00', 'UTC')",
    );
    expect(chUtcDateTime(Date.parse('0001-01-01T00:00:00Z'))).toBe(
      "toDateTime('1970-01-01 00:00:00', 'UTC')",
    );
    expect(chUtcDateTime(Date.parse('9999-12-31T23:59:59Z'))).toBe(
      "toDateTime('2105-12-31 23:59:59', 'UTC')",
    );
  });

  it('bounds times on both columns: occurred_at to prune, occurred_ms to be exact', () => {
    const at = Date.parse('2026-03-01T23:30:00.250Z');
    expect(occurredSince(at)).toBe(
      `occurred_at >= toDateTime('2026-03-01 23:30:00', 'UTC') AND occurred_ms >= ${at}`,
    );
    expect(occurredBefore(at)).toBe(
      `occurred_at <= toDateTime('2026-03-01 23:30:00', 'UTC') AND occurred_ms < ${at}`,
    );
  });

  it('reads type filters as webhook subscriptions do: exact, dotted prefix, or every type (no condition)', () => {
    expect(typeFilter('*')).toBeNull();
    expect(typeFilter('user.login.*')).toBe("startsWith(type, 'user.login.')");
    expect(typeFilter('user.login')).toBe("type = 'user.login'");
  });
});
