import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customHeaderProblem } from '../../src/webhooks/delivery/custom-headers.js';
import { WebhookHttpClient } from '../../src/webhooks/delivery/http-client.js';
import { parseCidrs } from '../../src/webhooks/delivery/ssrf.js';
import { type Receiver, startReceiver } from '../helpers/receiver.js';

// The rule for a subscription's custom headers, checked against what the delivery client (undici)
// really sends to a receiver on loopback.
let receiver: Receiver;
let client: WebhookHttpClient;

beforeAll(async () => {
  receiver = await startReceiver();
  client = new WebhookHttpClient({
    allowedCidrs: parseCidrs('127.0.0.0/8'),
    // Out of reach: undici (7.30) counts each request it refused for its headers against the origin's
    // connection limit for good, and once the limit is used up the next requests wait forever.
    connectionsPerOrigin: 100_000,
    timeoutMs: 5_000,
    connectTimeoutMs: 5_000,
    maxResponseBytes: 1_024,
    excerptBytes: 64,
  });
});
afterAll(async () => {
  await client?.close();
  await receiver?.close();
});

const char = (codePoint: number) => String.fromCodePoint(codePoint);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Every ASCII character in a name; every character up to U+017F and a few beyond in a value. */
const samples: [name: string, value: string][] = [
  ...range(0, 0x7f).map((c): [string, string] => [`X-${char(c)}-Y`, 'v']),
  ['X-é', 'v'],
  ...range(0, 0x17f).map((c): [string, string] => ['X-Value', `a${char(c)}b`]),
  ...[0x2028, 0xfeff, 0x1f600].map((c): [string, string] => ['X-Value', `a${char(c)}b`]),
  ['X-Value', 'a\ud800b'],
  ['X-Value', ''],
  ['X-Value', ' leading'],
  ['X-Value', 'trailing\t'],
  ['X-Value', 'inner space\tand tab'],
  ['Keep-Alive', 'timeout=5'],
  ['Connection', 'close'],
  ['Connection', 'keep-alive'],
  ['Transfer-Encoding', 'chunked'],
  ['Upgrade', 'websocket'],
  ['TE', 'trailers'],
  ['Trailer', 'X-Checksum'],
  ['Proxy-Authorization', 'Basic eDp5'],
  ['Proxy-Connection', 'keep-alive'],
  ['Host', 'example.com'],
  ['Content-Length', '2'],
  ['Expect', '100-continue'],
  ['Authorization', 'Bearer receiver-token'],
];

describe('a custom webhook header', () => {
  it('is accepted only if the delivery client sends it, and then arrives as it was given', async () => {
    const outcomes = await Promise.all(
      samples.map(async ([name, value], index) => ({
        name,
        value,
        index,
        problem: customHeaderProblem(name, value),
        outcome: await client.post(`${receiver.url}?sample=${index}`, { [name]: value }, '{}'),
      })),
    );
    const undeliverable = outcomes.filter(({ outcome }) => outcome.kind !== 'response');
    // The sweep does reach what undici refuses, and the rule refuses every one of those.
    expect(undeliverable.length).toBeGreaterThan(30);
    for (const { name, value, problem, outcome } of undeliverable)
      expect(
        problem,
        `${JSON.stringify(name)}: ${JSON.stringify(value)} (${JSON.stringify(outcome)})`,
      ).toBeDefined();
    for (const { name, value, index, problem, outcome } of outcomes) {
      if (problem) continue;
      const label = `${JSON.stringify(name)}: ${JSON.stringify(value)}`;
      expect(outcome, label).toMatchObject({ kind: 'response', status: 200 });
      const received = receiver.requests.find((request) => request.path === `/hooks?sample=${index}`);
      expect(received?.headers[name.toLowerCase()], label).toBe(value);
    }
  });

  it.each([
    ['Keep-Alive', 'timeout=5', 'hop_by_hop_header'],
    ['connection', 'close', 'hop_by_hop_header'],
    ['Transfer-Encoding', 'chunked', 'hop_by_hop_header'],
    ['Upgrade', 'h2c', 'hop_by_hop_header'],
    ['TE', 'trailers', 'hop_by_hop_header'],
    ['Trailer', 'X-Checksum', 'hop_by_hop_header'],
    ['Proxy-Authorization', 'Basic eDp5', 'hop_by_hop_header'],
    ['Expect', '100-continue', 'hop_by_hop_header'],
    ['Host', 'example.com', 'reserved_header'],
    ['Content-Length', '2', 'reserved_header'],
    ['Webhook-Signature', 'forged', 'reserved_header'],
    ['X-Bell', 'ring\u0007', 'invalid_header_value'],
    ['X-Del', 'a\u007fb', 'invalid_header_value'],
    ['X-C1', 'a\u0085b', 'invalid_header_value'],
    ['X-Name', 'Zoë 🙂', 'invalid_header_value'],
    ['X-Name', '東京', 'invalid_header_value'],
    ['X-Padded', ' value', 'invalid_header_value'],
    ['Bad Name', 'value', 'invalid_header_name'],
    ['X-Ünicode', 'value', 'invalid_header_name'],
  ])('%s: %j is refused (%s)', (name, value, code) => {
    expect(customHeaderProblem(name, value)).toMatchObject({ code });
  });

  it.each([
    ['Authorization', 'Bearer receiver-token'],
    ['X-Api-Key', 'k_123!#$%&*+.^_`|~'],
    ['X-Empty', ''],
    ['X-Latin', 'café crème'],
    ['X-Inner', 'a b\tc'],
  ])('%s: %j is accepted', (name, value) => {
    expect(customHeaderProblem(name, value)).toBeUndefined();
  });
});
