// The benchmark's webhook receiver (a separate process): answers 200 at once and records, per
// delivery, the end-to-end latency from the event's occurred_at to its arrival. GET /stats reports.
import http from 'node:http';

const latencies: number[] = [];
const arrivals: number[] = [];
const seen = new Set<string>();
let duplicates = 0;

const server = http.createServer((req, res) => {
  if (req.method === 'GET') {
    const sorted = [...latencies].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        received: latencies.length,
        distinct: seen.size,
        duplicates,
        first_at: arrivals[0] ?? null,
        last_at: arrivals.at(-1) ?? null,
        p50: at(0.5),
        p95: at(0.95),
        p99: at(0.99),
        max: sorted.at(-1) ?? 0,
      }),
    );
    if (req.url === '/stats?reset=1') {
      latencies.length = 0;
      arrivals.length = 0;
      seen.clear();
      duplicates = 0;
    }
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const now = Date.now();
    const id = String(req.headers['webhook-id']);
    if (seen.has(id)) duplicates += 1;
    seen.add(id);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { timestamp: string };
    latencies.push(now - Date.parse(body.timestamp));
    arrivals.push(now);
    res.writeHead(200).end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(JSON.stringify({ port: (server.address() as { port: number }).port }));
});
