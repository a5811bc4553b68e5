import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  newSigningSecret,
  signWebhook,
  verifyWebhook,
  WebhookVerificationError,
} from '../../src/webhooks/delivery/signing.js';

const body = JSON.stringify({
  type: 'user.registered',
  timestamp: '2026-11-25T00:00:00.000Z',
  data: { email: 'a@b.c' },
});
const id = '01a21089-dfcb-74a4-a167-d954fe51230e';

describe('Standard Webhooks signatures', () => {
  it('makes whsec_ secrets of 32 random bytes', () => {
    const secret = newSigningSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(newSigningSecret()).not.toBe(secret);
  });

  it("hookline's signatures verify with the official standardwebhooks library", () => {
    const secret = newSigningSecret();
    const timestamp = Math.floor(Date.now() / 1_000);
    const headers = {
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhook({ id, timestamp, body, secrets: [secret] }),
    };
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it("the official library's signatures verify with hookline's verifier", () => {
    const secret = newSigningSecret();
    const now = new Date();
    const signature = new Webhook(secret).sign(id, now, body);
    const headers = {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1_000)),
      'webhook-signature': signature,
    };
    expect(verifyWebhook(body, headers, secret)).toEqual(JSON.parse(body));
  });

  it('sends one signature per secret during a rotation; either secret verifies', () => {
    const [oldSecret, newSecret] = [newSigningSecret(), newSigningSecret()];
    const timestamp = Math.floor(Date.now() / 1_000);
    const signature = signWebhook({ id, timestamp, body, secrets: [newSecret, oldSecret] });
    expect(signature.split(' ')).toHaveLength(2);
    const headers = {
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signature,
    };
    expect(verifyWebhook(body, headers, oldSecret)).toBeTruthy();
    expect(verifyWebhook(body, headers, newSecret)).toBeTruthy();
    expect(() => verifyWebhook(body, headers, newSigningSecret())).toThrow(WebhookVerificationError);
  });

  it('refuses a changed body, a changed id, and a timestamp outside the tolerance', () => {
    const secret = newSigningSecret();
    const timestamp = Math.floor(Date.now() / 1_000);
    const headers = {
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhook({ id, timestamp, body, secrets: [secret] }),
    };
    expect(() => verifyWebhook(`${body} `, headers, secret)).toThrow(/signature/);
    expect(() => verifyWebhook(body, { ...headers, 'webhook-id': 'other' }, secret)).toThrow(/signature/);
    const old = timestamp - 301;
    const stale = {
      'webhook-id': id,
      'webhook-timestamp': String(old),
      'webhook-signature': signWebhook({ id, timestamp: old, body, secrets: [secret] }),
    };
    expect(() => verifyWebhook(body, stale, secret)).toThrow(/tolerance/);
    expect(verifyWebhook(body, stale, secret, { toleranceSeconds: 600 })).toBeTruthy();
    expect(() => verifyWebhook(body, {}, secret)).toThrow(/missing/);
  });
});
