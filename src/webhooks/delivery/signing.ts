import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the signature is
 * `v1,` + base64(HMAC-SHA256(secret, `${id}.${timestamp}.${body}`)), where the secret is the
 * base64 part of `whsec_…`. Several signatures are space-separated (during a secret rotation), and
 * receivers accept the message when any of them verifies.
 */

const SECRET_PREFIX = 'whsec_';

/** A new signing secret: `whsec_` + base64 of 32 random bytes. */
export function newSigningSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

function secretBytes(secret: string): Buffer {
  return Buffer.from(
    secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret,
    'base64',
  );
}

function sign(secret: string, id: string, timestamp: number, body: string): string {
  return createHmac('sha256', secretBytes(secret)).update(`${id}.${timestamp}.${body}`).digest('base64');
}

/** The `webhook-signature` header value for a message, one `v1,` signature per secret. */
export function signWebhook(input: {
  id: string;
  timestamp: number;
  body: string;
  secrets: readonly string[];
}): string {
  return input.secrets.map((secret) => `v1,${sign(secret, input.id, input.timestamp, input.body)}`).join(' ');
}

export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const value = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Verifies a webhook as a receiver: checks that `webhook-timestamp` is within the tolerance (default
 * 5 minutes, either way) and that one of the `v1` signatures matches one of `secrets`, comparing in
 * constant time. Returns the parsed JSON body; throws WebhookVerificationError otherwise.
 */
export function verifyWebhook(
  rawBody: string | Buffer,
  headers: HeaderSource,
  secrets: string | readonly string[],
  options: { toleranceSeconds?: number; now?: () => number } = {},
): unknown {
  const id = header(headers, 'webhook-id');
  const timestampText = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestampText || !signatures) throw new WebhookVerificationError('missing webhook headers');
  const timestamp = Number(timestampText);
  if (!Number.isInteger(timestamp)) throw new WebhookVerificationError('invalid webhook-timestamp');
  const nowSeconds = Math.floor((options.now?.() ?? Date.now()) / 1_000);
  const tolerance = options.toleranceSeconds ?? 300;
  if (Math.abs(nowSeconds - timestamp) > tolerance)
    throw new WebhookVerificationError('timestamp outside the tolerance');

  const body = typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
  const candidates = signatures
    .split(' ')
    .filter((part) => part.startsWith('v1,'))
    .map((part) => Buffer.from(part.slice(3), 'base64'));
  for (const secret of typeof secrets === 'string' ? [secrets] : secrets) {
    const expected = Buffer.from(sign(secret, id, timestamp, body), 'base64');
    for (const candidate of candidates) {
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) {
        return JSON.parse(body) as unknown;
      }
    }
  }
  throw new WebhookVerificationError('no matching signature');
}
