// The scale bench's result: .bench/scale.json, and the summary printed at the end.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { type Filter, filters, type SearchFigures } from './search.js';

export const targets = { throughput_ratio: 0.9, search_p95_ms: 50 };

export interface Measured {
  rows: number;
  fillSeconds: number;
  throughput: { empty: ThroughputFigures; full: ThroughputFigures };
  search: { empty: Record<Filter, SearchFigures>; full: Record<Filter, SearchFigures> };
  /** What the filled database holds (sizes, counts), for the record. */
  database: Record<string, unknown>;
}

type ThroughputFigures = { deliveriesPerSecond: number; figures: Record<string, unknown> };

const p95sOf = (figures: Record<Filter, SearchFigures>) =>
  Object.fromEntries(filters.map((filter) => [filter, figures[filter].p95_ms])) as Record<Filter, number>;

export function resultOf(measured: Measured) {
  const empty = measured.throughput.empty.deliveriesPerSecond;
  const full = measured.throughput.full.deliveriesPerSecond;
  return {
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    rows: measured.rows,
    fill_seconds: Number(measured.fillSeconds.toFixed(1)),
    throughput_empty: empty,
    throughput_full: full,
    throughput_ratio: Number((full / Math.max(empty, 1)).toFixed(3)),
    search_p95_ms: p95sOf(measured.search.full),
    search_p95_ms_empty: p95sOf(measured.search.empty),
    targets,
    details: {
      throughput_empty: measured.throughput.empty.figures,
      throughput_full: measured.throughput.full.figures,
      search_empty: measured.search.empty,
      search_full: measured.search.full,
      database: measured.database,
    },
  };
}

export type Result = ReturnType<typeof resultOf>;

export function writeResult(result: Result): string {
  mkdirSync('.bench', { recursive: true });
  const path = '.bench/scale.json';
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
  return path;
}

/** One line per search filter: p95 empty → full, and whether the target holds. */
export function searchLines(figures: Record<Filter, SearchFigures>) {
  return filters.map((filter) => {
    const f = figures[filter];
    return `  ${filter.padEnd(12)} p50 ${f.p50_ms} ms, p95 ${f.p95_ms} ms, p99 ${f.p99_ms} ms, max ${f.max_ms} ms (${f.items_mean} items a page)`;
  });
}

export function summaryLines(result: Result): string[] {
  const ok = (pass: boolean) => (pass ? 'ok' : 'MISSED');
  const ratioOk = result.throughput_ratio >= targets.throughput_ratio;
  return [
    `rows: ${result.rows.toLocaleString('en-US')} deliveries, filled in ${result.fill_seconds} s`,
    `throughput: empty ${result.throughput_empty}/s, full ${result.throughput_full}/s, ratio ${result.throughput_ratio} (target ≥ ${targets.throughput_ratio}: ${ok(ratioOk)})`,
    `search p95 (target ≤ ${targets.search_p95_ms} ms), empty → full:`,
    ...filters.map((filter) => {
      const full = result.search_p95_ms[filter];
      return `  ${filter.padEnd(12)} ${result.search_p95_ms_empty[filter]} ms → ${full} ms: ${ok(full <= targets.search_p95_ms)}`;
    }),
  ];
}
