// The short demo run by `npm run demo` against the running platform. Later features add their steps
// here (a user registers, a subscribed receiver gets the signed webhook).
import { execFileSync } from 'node:child_process';
import { loadConfig } from '../src/config/load.js';
import { allTopics } from '../src/events/topics.js';

const config = loadConfig('all', process.env);
const base = `http://127.0.0.1:${config.PORT}`;
const prometheus = process.env.PROMETHEUS_URL ?? 'http://127.0.0.1:9090';

const step = (title: string) => console.log(`\n\x1b[1m▶ ${title}\x1b[0m`);

step('The platform is ready: GET /readyz');
const ready = await fetch(`${base}/readyz`);
console.log(ready.status, JSON.stringify(await ready.json()));
if (!ready.ok) process.exit(1);

step('Its API is described by OpenAPI 3.1: GET /openapi.json');
const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; paths: object };
console.log(`openapi ${doc.openapi}, paths: ${Object.keys(doc.paths).join(', ')}`);

step('Errors are RFC 9457 problem details: GET /v1/nothing');
const missing = await fetch(`${base}/v1/nothing`);
console.log(missing.status, missing.headers.get('content-type'), await missing.text());

step(`Kafka has the platform's topics (${allTopics.join(', ')}), seen by kcat`);
try {
  console.log(
    execFileSync('kcat', ['-L', '-b', config.KAFKA_BROKERS.join(',')], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('topic "'))
      .join('\n'),
  );
} catch {
  console.log('(kcat is not installed; `npm test` installs it)');
}

step('Prometheus scrapes the platform (waiting for its first scrape)');
type Target = { scrapeUrl: string; health: string };
let targets: Target[] = [];
for (let i = 0; i < 30; i++) {
  const answer = (await (await fetch(`${prometheus}/api/v1/targets?state=active`)).json()) as {
    data: { activeTargets: Target[] };
  };
  targets = answer.data.activeTargets;
  if (targets.some((t) => t.scrapeUrl.includes(`:${config.PORT}/metrics`) && t.health === 'up')) break;
  await new Promise((resolve) => setTimeout(resolve, 1_000));
}
for (const target of targets) console.log(`${target.health.padEnd(8)} ${target.scrapeUrl}`);

console.log(`\nAPI reference: ${base}/docs   metrics: ${base}/metrics   Prometheus: ${prometheus}`);
