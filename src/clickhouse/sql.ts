/**
 * A string as a ClickHouse SQL literal. ClickHouse 18.16 has no query parameters, so values (already
 * validated by the caller's schema) are written into the SQL, escaped here and only here.
 */
export const chLiteral = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The range of `DateTime` that ClickHouse 18.16 and current releases both hold (2106 wraps on 18.16). */
const firstSecond = 0;
const lastSecond = Date.UTC(2105, 11, 31, 23, 59, 59) / 1_000;

/** An instant (epoch milliseconds) as whole seconds within what a `DateTime` can hold. */
export const chSeconds = (ms: number) => Math.min(Math.max(Math.floor(ms / 1_000), firstSecond), lastSecond);

/**
 * An instant as a `DateTime` literal in UTC, to the second (rounded down). Always with the time zone
 * argument: `toDateTime('…')` alone is read in the server's time zone.
 */
export const chUtcDateTime = (ms: number) =>
  `toDateTime(${chLiteral(new Date(chSeconds(ms) * 1_000).toISOString().slice(0, 19).replace('T', ' '))}, 'UTC')`;
