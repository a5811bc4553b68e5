// The short demo run by `npm run demo` against the running platform: a user registers, signs in on
// two devices, revokes one session, fails a login, and each action is read back from Kafka as an
// event. (The webhook step lands with webhook subscriptions.)
import { loadConfig } from '../src/config/load.js';
import { allTopics } from '../src/events/topics.js';
import { createKafka } from '../src/kafka/client.js';
import { createLogger } from '../src/logger.js';

const config = loadConfig('all', process.env);
const base = `http://127.0.0.1:${config.PORT}`;
const prometheus = process.env.PROMETHEUS_URL ?? 'http://127.0.0.1:9090';
const logger = createLogger({ level: 'error', process: 'demo' });

const step = (title: string) => console.log(`\n\x1b[1m▶ ${title}\x1b[0m`);
const show = (label: string, status: number, body: unknown) =>
  console.log(`${label} → ${status} ${JSON.stringify(body).slice(0, 300)}`);

async function call(method: string, path: string, body?: unknown, token?: string, device = 'demo-laptop') {
  const headers: Record<string, string> = { 'user-agent': device };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

step('The platform is ready: GET /readyz');
const ready = await call('GET', '/readyz');
show('GET /readyz', ready.status, ready.body);
if (ready.status !== 200) process.exit(1);

// Remember where the topics end now, to read back exactly the events this demo causes.
const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'hookline-demo', logger });
const admin = kafka.admin();
await admin.connect();
const startOffsets = new Map(
  await Promise.all(allTopics.map(async (t) => [t, await admin.fetchTopicOffsets(t)] as const)),
);
await admin.disconnect();

const email = `demo-${Date.now().toString(36)}@example.com`;
const password = 'demo-passphrase-for-hookline';

step(`A user registers and signs in on two devices (${email})`);
const registered = await call('POST', '/v1/auth/register', { email, password, name: 'Demo User' });
show('POST /v1/auth/register', registered.status, registered.body);
const laptop = await call('POST', '/v1/auth/login', { email, password });
show('POST /v1/auth/login (laptop)', laptop.status, {
  ...laptop.body,
  access_token: '…',
  refresh_token: '…',
});
const phone = await call('POST', '/v1/auth/login', { email, password }, undefined, 'demo-phone');
const laptopToken = String(laptop.body.access_token);
const sessions = await call('GET', '/v1/me/sessions', undefined, laptopToken);
show('GET /v1/me/sessions', sessions.status, sessions.body);

step('The laptop revokes the phone’s session: the phone is refused on its very next request');
const revoked = await call(
  'DELETE',
  `/v1/me/sessions/${String(phone.body.session_id)}`,
  undefined,
  laptopToken,
);
show('DELETE /v1/me/sessions/{phone}', revoked.status, revoked.body);
const phoneAgain = await call('GET', '/v1/me', undefined, String(phone.body.access_token), 'demo-phone');
show('GET /v1/me (phone)', phoneAgain.status, phoneAgain.body);

step('A wrong password, and a body that fails validation (RFC 9457 problem details)');
const wrong = await call('POST', '/v1/auth/login', { email, password: 'not-my-password' });
show('POST /v1/auth/login (wrong password)', wrong.status, wrong.body);
const invalid = await call('POST', '/v1/auth/register', { email: 'not-an-email', password: 'short' });
show('POST /v1/auth/register (invalid)', invalid.status, invalid.body);

step('Every action is an event on Kafka, published through the transactional outbox');
const userId = String(registered.body.id);
const expected = 5; // registered, login ×2, session revoked, login failed
const consumer = kafka.consumer({ groupId: `hookline-demo-${Date.now()}` });
await consumer.connect();
await consumer.subscribe({ topics: allTopics, fromBeginning: true });
const seen: string[] = [];
await new Promise<void>((resolve, reject) => {
  const timer = setTimeout(
    () => reject(new Error(`saw ${seen.length} of ${expected} events in 30 s`)),
    30_000,
  );
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const [topic, offsets] of startOffsets)
      for (const { partition, offset } of offsets) consumer.seek({ topic, partition, offset });
  });
  void consumer.run({
    eachMessage: async ({ topic, message }) => {
      const event = JSON.parse(message.value?.toString() ?? '{}') as {
        type: string;
        user_id: string;
        data: object;
      };
      if (event.user_id !== userId) return;
      seen.push(event.type);
      console.log(
        `${topic.padEnd(13)} key=${message.key?.toString()} ${event.type.padEnd(22)} ${JSON.stringify(event.data)}`,
      );
      if (seen.length >= expected) {
        clearTimeout(timer);
        resolve();
      }
    },
  });
});
await consumer.disconnect();

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
for (const target of targets.filter((t) => t.health === 'up')) console.log(`up       ${target.scrapeUrl}`);

console.log(`\nAPI reference: ${base}/docs   event types: ${base}/v1/event-types   metrics: ${base}/metrics`);
