import { type ClickHouseClient, createClient } from '@clickhouse/client';

export type { ClickHouseClient };

/**
 * The official ClickHouse client over HTTP. It is used with only what Debian's ClickHouse 18.16 and
 * current releases both accept: JSONEachRow in and out, no server-side settings the old release lacks.
 */
export function createClickHouse(options: { url: string; database?: string; requestTimeoutMs?: number }) {
  return createClient({
    url: options.url,
    ...(options.database ? { database: options.database } : {}),
    request_timeout: options.requestTimeoutMs ?? 30_000,
    max_open_connections: 8,
    compression: { request: false, response: false },
  });
}
