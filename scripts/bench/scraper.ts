// Scrapes processes' /metrics while the bench runs, as Prometheus would (more often).
import { setTimeout as sleep } from 'node:timers/promises';

export const SCRAPE_EVERY_MS = 250;

/** The sample lines of `name` (whose line contains `label`) in a /metrics text. */
const sampleLines = (text: string, name: string, label = '') =>
  text
    .split('\n')
    .filter((line) => (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && line.includes(label));
const sampleValue = (line: string) => Number(line.split(' ').at(-1));

/** The value of the first sample of `name` (whose line contains `label`) in a /metrics text. */
export const metricValue = (text: string, name: string, label = '') => {
  const [line] = sampleLines(text, name, label);
  return line === undefined ? Number.NaN : sampleValue(line);
};

/** The sum of every sample of `name` in a /metrics text (a counter's series). */
export const metricSum = (text: string, name: string) =>
  sampleLines(text, name).reduce((sum, line) => sum + sampleValue(line), 0);

/**
 * The round trip as a scraper sees it, and the process's own rendering time
 * (hookline_metrics_scrape_duration_seconds).
 */
export class Scraper {
  private running = true;
  private readonly timings = new Map<string, number[]>();
  private readonly last = new Map<string, string>();
  private failure: unknown;

  constructor(private readonly targets: Record<string, string>) {}

  /**
   * Scrapes until `stop`. Never rejects: a failed scrape (a process stopped by an interrupted bench)
   * ends the loop and is thrown by `stop`, so it cannot crash the bench before its clean-up.
   */
  async run(): Promise<void> {
    try {
      await this.loop();
    } catch (error) {
      this.failure = error;
    }
  }

  private async loop(): Promise<void> {
    while (this.running) {
      for (const [name, url] of Object.entries(this.targets)) {
        const started = performance.now();
        const text = await (await fetch(url)).text();
        const took = performance.now() - started;
        this.timings.set(name, [...(this.timings.get(name) ?? []), took]);
        this.last.set(name, text);
      }
      await sleep(SCRAPE_EVERY_MS);
    }
  }

  /** The mean rendering time of `count` scrapes of each target in a row, with nothing else going on. */
  async atRest(count: number): Promise<Record<string, number>> {
    const rendered = async (url: string) => {
      const text = await (await fetch(url)).text();
      return {
        sum: metricValue(text, 'hookline_metrics_scrape_duration_seconds_sum'),
        count: metricValue(text, 'hookline_metrics_scrape_duration_seconds_count'),
      };
    };
    const means: Record<string, number> = {};
    for (const [name, url] of Object.entries(this.targets)) {
      const before = await rendered(url);
      for (let i = 0; i < count; i++) await (await fetch(url)).text();
      const after = await rendered(url);
      means[name] = Number((((after.sum - before.sum) / (after.count - before.count)) * 1_000).toFixed(2));
    }
    return means;
  }

  async stop(running: Promise<void>) {
    this.running = false;
    await running;
    if (this.failure) throw this.failure;
    const round = (ms: number) => Number(ms.toFixed(2));
    return Object.fromEntries(
      Object.keys(this.targets).map((name) => {
        const sorted = [...(this.timings.get(name) ?? [])].sort((a, b) => a - b);
        const at = (q: number) =>
          round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
        const text = this.last.get(name) ?? '';
        const renderSeconds =
          metricValue(text, 'hookline_metrics_scrape_duration_seconds_sum') /
          metricValue(text, 'hookline_metrics_scrape_duration_seconds_count');
        return [
          name,
          {
            scrapes: sorted.length,
            series: text.split('\n').filter((line) => line && !line.startsWith('#')).length,
            render_mean_ms: round(renderSeconds * 1_000),
            render_cpu_mean_ms: round(
              (metricValue(text, 'hookline_metrics_scrape_cpu_seconds_total') * 1_000) /
                metricValue(text, 'hookline_metrics_scrape_duration_seconds_count'),
            ),
            render_within_5ms: Number(
              (
                metricValue(text, 'hookline_metrics_scrape_duration_seconds_bucket', 'le="0.005"') /
                metricValue(text, 'hookline_metrics_scrape_duration_seconds_count')
              ).toFixed(4),
            ),
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: round(sorted.at(-1) ?? 0),
          },
        ];
      }),
    );
  }
}

export type ScrapeFigures = Awaited<ReturnType<Scraper['stop']>>[string] & { render_at_rest_ms?: number };

export const withRest = <T extends object>(underLoad: Record<string, T>, atRest: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(underLoad).map(([name, figures]) => [
      name,
      { ...figures, render_at_rest_ms: atRest[name] },
    ]),
  );
