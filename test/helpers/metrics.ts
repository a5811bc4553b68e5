/**
 * Reading a process's /metrics (the Prometheus text format) and the stack's Prometheus, for tests
 * that check what the metrics say against what happened.
 */
export const PROMETHEUS_URL = process.env.PROMETHEUS_URL ?? 'http://127.0.0.1:9090';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key as string] = (value as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** A process's metrics now; `value(name, labels)` sums the samples of `name` whose labels include `labels`. */
export async function scrape(baseUrl: string) {
  const response = await fetch(`${baseUrl}/metrics`);
  if (response.status !== 200) throw new Error(`GET ${baseUrl}/metrics answered ${response.status}`);
  const samples = parseMetrics(await response.text());
  return {
    samples,
    value(name: string, labels: Record<string, string> = {}): number {
      return samples
        .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        .reduce((sum, s) => sum + s.value, 0);
    },
    series(name: string): Sample[] {
      return samples.filter((s) => s.name === name);
    },
  };
}

export interface PromVector {
  metric: Record<string, string>;
  value: [number, string];
}

/** An instant query through Prometheus's HTTP API; a query Prometheus refuses throws. */
export async function promQuery(expr: string): Promise<PromVector[]> {
  const response = await fetch(`${PROMETHEUS_URL}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expr }),
  });
  const body = (await response.json()) as {
    status: string;
    error?: string;
    data?: { resultType: string; result: PromVector[] | [number, string] };
  };
  if (body.status !== 'success' || !body.data) throw new Error(`Prometheus refused ${expr}: ${body.error}`);
  if (body.data.resultType === 'scalar') {
    return [{ metric: {}, value: body.data.result as [number, string] }];
  }
  return body.data.result as PromVector[];
}

export interface PromMatrix {
  metric: Record<string, string>;
  values: [number, string][];
}

/** A range query (as Grafana makes them) through Prometheus's HTTP API; times in seconds. */
export async function promQueryRange(
  expr: string,
  range: { start: number; end: number; stepSeconds: number },
): Promise<PromMatrix[]> {
  const response = await fetch(`${PROMETHEUS_URL}/api/v1/query_range`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      query: expr,
      start: String(range.start),
      end: String(range.end),
      step: String(range.stepSeconds),
    }),
  });
  const body = (await response.json()) as { status: string; error?: string; data?: { result: PromMatrix[] } };
  if (body.status !== 'success' || !body.data) throw new Error(`Prometheus refused ${expr}: ${body.error}`);
  return body.data.result;
}
