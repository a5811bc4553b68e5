// A small webhook receiver for hookline (Hono): it verifies each delivery's signature and timestamp
// and handles each webhook-id once, even when hookline delivers it again (deliveries are at least once).
//
//   HOOKLINE_SECRET=whsec_… PORT=4000 npm run example:receiver
//
// In production keep the seen ids in a shared store with a TTL (Redis SET NX EX, or a unique key in
// your database) instead of this process's memory.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { verifyWebhook, WebhookVerificationError } from '../src/index.js';

const secrets = (process.env.HOOKLINE_SECRET ?? '').split(',').filter(Boolean);
if (secrets.length === 0) {
  console.error(
    'set HOOKLINE_SECRET to the subscription secret (whsec_…); several, comma-separated, during a rotation',
  );
  process.exit(78);
}

const seen = new Map<string, number>();
const SEEN_FOR_MS = 24 * 3_600_000;

const app = new Hono();
app.post('/webhooks', async (c) => {
  const rawBody = await c.req.text(); // verify the exact bytes received, before any JSON parsing
  let event: { type: string; timestamp: string; data: unknown };
  try {
    event = verifyWebhook(rawBody, c.req.raw.headers, secrets) as typeof event;
  } catch (error) {
    if (error instanceof WebhookVerificationError) return c.text(`rejected: ${error.message}`, 400);
    throw error;
  }
  const id = c.req.header('webhook-id') ?? '';
  if (seen.has(id)) return c.text('duplicate, already handled', 200);
  seen.set(id, Date.now());
  for (const [key, at] of seen) if (Date.now() - at > SEEN_FOR_MS) seen.delete(key);

  console.log(`${event.timestamp} ${event.type} ${JSON.stringify(event.data)}`);
  return c.body(null, 204); // any 2xx is success; answer fast and do slow work afterwards
});

const port = Number(process.env.PORT ?? 4000);
serve({ fetch: app.fetch, hostname: '127.0.0.1', port }, () =>
  console.log(`receiver on http://127.0.0.1:${port}/webhooks`),
);
