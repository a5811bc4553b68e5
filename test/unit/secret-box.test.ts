import { describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/webhooks/subscriptions/secret-box.js';

const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const id = '01a2110a-1e0b-76f9-ac52-45754fcaddef';
const keyA = 'a-long-passphrase-for-webhook-secrets-000001';
const keyB = 'another-long-passphrase-for-webhook-secrets-2';

describe('SecretBox', () => {
  it('seals a secret so that the stored value does not reveal it, and opens it again', () => {
    const box = new SecretBox([keyA]);
    const sealed = box.seal(secret, id);
    expect(sealed).toMatch(/^enc1:[0-9a-f]{8}:[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain(secret.slice(6));
    expect(box.seal(secret, id)).not.toBe(sealed); // a fresh IV each time
    expect(box.open(sealed, id)).toBe(secret);
    expect(box.needsReseal(sealed)).toBe(false);
  });

  it('opens a sealed value only for the subscription it was sealed for', () => {
    const box = new SecretBox([keyA]);
    const sealed = box.seal(secret, id);
    expect(() => box.open(sealed, '01a2110a-1e0b-76f9-ac52-000000000000')).toThrow();
  });

  it('reads plain secrets stored before encryption, and marks them for resealing', () => {
    const box = new SecretBox([keyA]);
    expect(box.open(secret, id)).toBe(secret);
    expect(box.needsReseal(secret)).toBe(true);
  });

  it('rotates keys: the first key seals, every listed key opens, values under an old key need resealing', () => {
    const old = new SecretBox([keyA]).seal(secret, id);
    const rotated = new SecretBox([keyB, keyA]);
    expect(rotated.open(old, id)).toBe(secret);
    expect(rotated.needsReseal(old)).toBe(true);
    const resealed = rotated.seal(secret, id);
    expect(rotated.needsReseal(resealed)).toBe(false);
    expect(new SecretBox([keyB]).open(resealed, id)).toBe(secret);
    expect(() => new SecretBox([keyB]).open(old, id)).toThrow(/not list/);
  });

  it('refuses an altered or truncated value', () => {
    const box = new SecretBox([keyA]);
    const sealed = box.seal(secret, id);
    const tampered = `${sealed.slice(0, -2)}${sealed.endsWith('A') ? 'B' : 'A'}${sealed.slice(-1)}`;
    expect(() => box.open(tampered, id)).toThrow();
    const [prefix, keyId, payload = ''] = sealed.split(':');
    const short = Buffer.from(payload, 'base64url').subarray(0, 20).toString('base64url');
    expect(() => box.open(`${prefix}:${keyId}:${short}`, id)).toThrow(/truncated/);
  });

  it('refuses the same key listed twice', () => {
    expect(() => new SecretBox([keyA, keyA])).toThrow(/twice/);
  });

  it('without keys stores and reads secrets as they are', () => {
    const box = new SecretBox([]);
    expect(box.encrypts).toBe(false);
    expect(box.seal(secret, id)).toBe(secret);
    expect(box.open(secret, id)).toBe(secret);
    expect(box.needsReseal(secret)).toBe(false);
  });
});
