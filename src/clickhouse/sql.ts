/**
 * A string as a ClickHouse SQL literal. ClickHouse 18.16 has no query parameters, so values (already
 * validated by the caller's schema) are written into the SQL, escaped here and only here.
 */
export const chLiteral = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
