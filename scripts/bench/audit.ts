// The audit worker's cost: `events` bench events into Kafka, read by an audit process of a consumer
// group of its own and stored in ClickHouse; CPU seconds of the worker and of ClickHouse until every
// one is stored. The rows are removed afterwards (a ClickHouse mutation), the group by the bench's
// clean-up.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { createClickHouse } from '../../src/clickhouse/client.js';
import { allTopics } from '../../src/events/topics.js';
import { startGroupAtEnd } from '../../src/kafka/topics.js';
import { type Children, cpuMeter, cpuSeconds, usedBy } from './children.js';
import type { Load } from './load.js';

export interface AuditContext {
  children: Children;
  kafka: Kafka;
  load: Load;
  env: Record<string, string>;
  clickhouseUrl: string;
  groupId: string;
  run: string;
  events: number;
  say: (text: string) => void;
}

export async function auditPhase(ctx: AuditContext) {
  const clickhouse = createClickHouse({ url: ctx.clickhouseUrl });
  // Bench events carry the run in their data (the new name): only this run's rows count.
  const where = `type = 'user.profile.updated' AND position(data, '${ctx.run}') > 0`;
  const stored = async () => {
    const result = await clickhouse.query({
      query: `SELECT count() AS n FROM hookline.audit_events WHERE ${where}`,
      format: 'JSONEachRow',
    });
    return Number((await result.json<{ n: string }>())[0]?.n ?? 0);
  };
  await startGroupAtEnd(ctx.kafka, ctx.groupId, allTopics);
  const audit = await ctx.children.start(
    ['workers/audit.ts'],
    { ...ctx.env, AUDIT_GROUP_ID: ctx.groupId },
    (line) => line.includes('"process ready"'),
  );
  try {
    const already = await stored();
    const meter = cpuMeter({ audit: () => cpuSeconds(audit.child.pid), clickhouse: usedBy('clickhouse') });
    const before = meter.snapshot();
    const started = Date.now();
    await ctx.load.produce(ctx.events);
    const deadline = Date.now() + 180_000;
    let n = already;
    // A count every 250 ms until every event is stored: the phase's end.
    while (n < already + ctx.events && Date.now() < deadline) {
      await sleep(250);
      n = await stored();
    }
    const seconds = (Date.now() - started) / 1_000;
    const cpu = meter.since(before) as { audit: number; clickhouse: number };
    const figures = {
      events: ctx.events,
      stored: n - already,
      seconds: Number(seconds.toFixed(2)),
      events_per_second: Math.round((n - already) / seconds),
      cpu_seconds: cpu,
    };
    ctx.say(
      `audit: ${figures.stored} of ${ctx.events} events stored in ClickHouse in ${figures.seconds} s (${figures.events_per_second}/s); CPU seconds: audit ${cpu.audit}, ClickHouse ${cpu.clickhouse}`,
    );
    return figures;
  } finally {
    await ctx.children.stop(audit.child);
    await clickhouse
      .command({ query: `ALTER TABLE hookline.audit_events DELETE WHERE ${where}` })
      .catch(() => {});
    await clickhouse.close();
  }
}
