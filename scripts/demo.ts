// The short demo run by `npm run demo` against the running platform: a local receiver subscribes to
// `user.*`; a user registers, signs in on two devices, revokes one session, fails a login and changes
// their profile; the receiver prints each webhook it gets, verified; each action is also read back
// from Kafka as an event.
import { loadConfig } from '../src/config/load.js';
import { allTopics } from '../src/events/topics.js';
import { verifyWebhook } from '../src/index.js';
import { createKafka } from '../src/kafka/client.js';
import { createLogger } from '../src/logger.js';
import { listen } from './lib/receiver.js';

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
const kafkaAdmin = kafka.admin();
await kafkaAdmin.connect();
const startOffsets = new Map(
  await Promise.all(allTopics.map(async (t) => [t, await kafkaAdmin.fetchTopicOffsets(t)] as const)),
);
await kafkaAdmin.disconnect();

step('A receiver on this machine subscribes to user.* (as the admin)');
const admin = await call('POST', '/v1/auth/login', {
  email: process.env.ADMIN_EMAIL ?? 'admin@hookline.local',
  password: process.env.ADMIN_PASSWORD ?? 'hookline-demo-admin',
});
const adminToken = String(admin.body.access_token);
let secret = '';
const received: string[] = [];
// Events of other users (e.g. left in Kafka by `npm run bench` for a consumer group that was not
// running) are delivered too; they are counted, not printed.
let demoUserId = '';
let others = 0;
const receiver = await listen(
  (request) => {
    try {
      const event = verifyWebhook(request.body, request.headers as Record<string, string>, secret) as {
        type: string;
        user_id: string | null;
        data: unknown;
      };
      if (!demoUserId || event.user_id !== demoUserId) {
        others += 1;
        return { status: 204 };
      }
      received.push(event.type);
      console.log(`\x1b[32m  ⇢ receiver: verified ${event.type} ${JSON.stringify(event.data)}\x1b[0m`);
      return { status: 204 };
    } catch (error) {
      console.log(`  ⇢ receiver: rejected (${String(error)})`);
      return { status: 400 };
    }
  },
  { keepRequests: false },
);
const receiverUrl = receiver.url;
const subscription = await call(
  'POST',
  '/v1/webhooks/subscriptions',
  { url: receiverUrl, event_types: ['user.*'], description: 'npm run demo' },
  adminToken,
);
show('POST /v1/webhooks/subscriptions', subscription.status, { ...subscription.body, secret: 'whsec_…' });
if (subscription.status !== 201) process.exit(1);
secret = String(subscription.body.secret);
// The receiver lives only as long as this script: never leave its subscription behind (its deliveries
// would retry against a closed port for days), whichever way the demo ends.
const removeSubscription = () =>
  call('DELETE', `/v1/webhooks/subscriptions/${String(subscription.body.id)}`, undefined, adminToken);
const cleanUp = async () => {
  await removeSubscription().catch(() => {});
  await receiver.close();
};
let stopping: Promise<void> | undefined;
const stop = (code: number) => {
  stopping ??= cleanUp().then(() => process.exit(code));
  return stopping;
};
// `on`, not `once`: Ctrl-C reaches this process twice (from the terminal and relayed by tsx), and a
// second signal must not end it before the subscription is removed.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(130));
await new Promise((resolve) => setTimeout(resolve, 300));

const email = `demo-${Date.now().toString(36)}@example.com`;
const password = 'demo-passphrase-for-hookline';

step(`A user registers and signs in on two devices (${email})`);
const registered = await call('POST', '/v1/auth/register', { email, password, name: 'Demo User' });
show('POST /v1/auth/register', registered.status, registered.body);
if (registered.status !== 201) {
  console.error('registration failed; the demo cannot go on (see the answer above)');
  await stop(1);
}
demoUserId = String(registered.body.id);
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

step('The user changes their profile');
const profile = await call(
  'PATCH',
  '/v1/me',
  { name: 'Demo User (renamed)', timezone: 'Europe/Paris' },
  laptopToken,
);
show('PATCH /v1/me', profile.status, profile.body);

step('Every action is an event on Kafka, published through the transactional outbox');
const userId = String(registered.body.id);
const expected = 6; // registered, login ×2, session revoked, login failed, profile updated
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
}).catch(async (error: Error) => {
  console.error(error.message);
  await stop(1);
});
await consumer.disconnect();

step('The receiver got each of them as a signed webhook');
for (let i = 0; i < 100 && received.length < expected; i++)
  await new Promise((resolve) => setTimeout(resolve, 100));
console.log(`${received.length} verified webhooks: ${received.join(', ')}`);
if (others > 0) console.log(`(and ${others} for events of other users, from before the demo, not shown)`);
if (received.length < expected) await stop(1);
await cleanUp();

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

step('What the metrics say (PromQL through Prometheus)');
const promql = async (query: string) =>
  (
    (await (await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(query)}`)).json()) as {
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    }
  ).data.result;
for (let i = 0; i < 20; i++) {
  const [delivered] = await promql('sum(hookline_webhook_deliveries_total{outcome="succeeded"})');
  if (Number(delivered?.value[1] ?? 0) >= expected) break;
  await new Promise((resolve) => setTimeout(resolve, 1_000));
}
for (const query of [
  'sum by (reason) (hookline_auth_failed_logins_total)',
  'max(hookline_auth_active_sessions)',
  'sum by (outcome) (hookline_webhook_deliveries_total)',
  'histogram_quantile(0.99, sum by (le) (hookline_webhook_e2e_latency_seconds_bucket))',
]) {
  const rows = (await promql(query)).map(
    ({ metric, value }) =>
      `${Object.values(metric).join(',') || 'value'}=${Number.isInteger(Number(value[1])) ? value[1] : Number(value[1]).toPrecision(3)}`,
  );
  console.log(`${query}\n    ${rows.join('  ')}`);
}
console.log(
  'Dashboards: grafana/dashboards (Auth, Webhooks, Platform); with Docker, Grafana is on http://localhost:3030',
);

console.log(`\nAPI reference: ${base}/docs   event types: ${base}/v1/event-types   metrics: ${base}/metrics`);
console.log(
  `Operator console: ${base}/console (sign in as ${process.env.ADMIN_EMAIL ?? 'admin@hookline.local'} with the demo's admin password)`,
);
