import { describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/webhooks/secret-box.js';

const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const keyA = 'a-long-passphrase-for-webhook-secrets-000001';
const keyB = 'another-long-passphrase-for-webhook-secrets-2';

describe('SecretBox', () => {
  it('seals a secret so that the stored value does not reveal it, and opens it again', () => {
    const box = new SecretBox([keyA]);
    const sealed = box.seal(secret);
    expect(sealed).toMatch(/^enc1:[0-9a-f]{8}:[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain(secret.slice(6));
    expect(box.seal(secret)).not.toBe(sealed); // a fresh IV each time
    expect(box.open(sealed)).toBe(secret);
    expect(box.needsReseal(sealed)).toBe(false);
  });

  it('reads plain secrets stored before encryption, and marks them for resealing', () => {
    const box = new SecretBox([keyA]);
    expect(box.open(secret)).toBe(secret);
    expect(box.needsReseal(secret)).toBe(true);
  });

  it('rotates keys: the first key seals, every listed key opens, values under an old key need resealing', () => {
    const old = new SecretBox([keyA]).seal(secret);
    const rotated = new SecretBox([keyB, keyA]);
    expect(rotated.open(old)).toBe(secret);
    expect(rotated.needsReseal(old)).toBe(true);
    const resealed = rotated.seal(secret);
    expect(rotated.needsReseal(resealed)).toBe(false);
    expect(new SecretBox([keyB]).open(resealed)).toBe(secret);
    expect(() => new SecretBox([keyB]).open(old)).toThrow(/not list/);
  });

  it('refuses an altered value', () => {
    const box = new SecretBox([keyA]);
    const sealed = box.seal(secret);
    const tampered = `${sealed.slice(0, -2)}${sealed.endsWith('A') ? 'B' : 'A'}${sealed.slice(-1)}`;
    expect(() => box.open(tampered)).toThrow();
  });

  it('without keys stores and reads secrets as they are', () => {
    const box = new SecretBox([]);
    expect(box.encrypts).toBe(false);
    expect(box.seal(secret)).toBe(secret);
    expect(box.open(secret)).toBe(secret);
    expect(box.needsReseal(secret)).toBe(false);
  });
});
