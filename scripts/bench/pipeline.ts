// The webhook pipeline's two headline phases, against the healthy receiver alone: sustained
// throughput (events as fast as they go), then end-to-end latency at a steady rate.
import type { cpuMeter } from './children.js';
import type { Load } from './load.js';
import { statsOf, waitFor } from './receiver.js';
import { metricValue } from './scraper.js';

export interface PipelineContext {
  load: Load;
  receiverPort: number;
  /** The delivery process's /metrics. */
  deliveryMetrics: string;
  cpu: ReturnType<typeof cpuMeter>;
  say: (text: string) => void;
}

/** Deliveries deferred by flow control so far, by reason (none before flow control existed). */
async function deferrals(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(url)).text();
  return Object.fromEntries(
    ['in_flight', 'rate', 'breaker'].map((reason) => [
      reason,
      metricValue(text, 'hookline_webhook_deferred_total', `reason="${reason}"`) || 0,
    ]),
  );
}

export async function throughputPhase(ctx: PipelineContext, events: number) {
  const deferredBefore = await deferrals(ctx.deliveryMetrics);
  const cpuBefore = ctx.cpu.snapshot();
  const started = Date.now();
  await ctx.load.produce(events);
  const produced = Date.now();
  const stats = await waitFor(ctx.receiverPort, events, 300_000);
  const seconds = ((stats.last_at ?? Date.now()) - started) / 1_000;
  const deliveriesPerSecond = Math.round(stats.distinct / seconds);
  ctx.say(
    `${stats.distinct} delivered in ${seconds.toFixed(1)} s (produced in ${((produced - started) / 1_000).toFixed(1)} s): ${deliveriesPerSecond} deliveries/s`,
  );
  await statsOf(ctx.receiverPort, true);
  const deferredAfter = await deferrals(ctx.deliveryMetrics);
  return {
    deliveriesPerSecond,
    figures: {
      events,
      delivered: stats.distinct,
      duplicates: stats.duplicates,
      foreign: stats.foreign,
      seconds: Number(seconds.toFixed(2)),
      cpu_seconds: ctx.cpu.since(cpuBefore),
      deferred: Object.fromEntries(
        Object.entries(deferredAfter).map(([reason, n]) => [reason, n - (deferredBefore[reason] ?? 0)]),
      ),
    },
  };
}

export async function latencyPhase(ctx: PipelineContext, rate: number, seconds: number) {
  const cpuBefore = ctx.cpu.snapshot();
  const total = await ctx.load.paced(rate, seconds);
  const stats = await waitFor(ctx.receiverPort, total, 120_000);
  ctx.say(
    `${stats.distinct} delivered; end-to-end p50 ${stats.p50} ms, p95 ${stats.p95} ms, p99 ${stats.p99} ms, max ${stats.max} ms`,
  );
  await statsOf(ctx.receiverPort, true);
  return {
    e2e: { p50: stats.p50, p95: stats.p95, p99: stats.p99, max: stats.max },
    figures: {
      rate_per_second: rate,
      seconds,
      delivered: stats.distinct,
      duplicates: stats.duplicates,
      foreign: stats.foreign,
      cpu_seconds: ctx.cpu.since(cpuBefore),
    },
  };
}
