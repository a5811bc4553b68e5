import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

const PREFIX = 'enc1';
const INFO = 'hookline webhook signing secrets';

interface Key {
  id: string;
  bytes: Buffer;
}

/**
 * Encryption at rest of the subscriptions' signing secrets (which must be read back to sign, so they
 * cannot be hashed): AES-256-GCM under a key derived (HKDF-SHA256) from `WEBHOOK_SECRETS_KEYS`.
 *
 * A sealed value is `enc1:<key id>:<base64url(iv | tag | ciphertext)>`. The first key seals; every
 * listed key opens, so keys rotate by putting a new one first, resealing (`npm run
 * webhooks:reseal-secrets`), then dropping the old one. A value without the prefix is a plain secret
 * (stored before encryption was configured) and is read as it is. Without keys, secrets are stored
 * in plain text, as before.
 */
export class SecretBox {
  private readonly keys: Key[];

  constructor(passphrases: readonly string[]) {
    this.keys = passphrases.map((passphrase) => {
      const bytes = Buffer.from(hkdfSync('sha256', passphrase, Buffer.alloc(0), INFO, 32));
      return { id: createHash('sha256').update(bytes).digest('hex').slice(0, 8), bytes };
    });
    if (new Set(this.keys.map((key) => key.id)).size !== this.keys.length) {
      throw new Error('WEBHOOK_SECRETS_KEYS lists the same key twice');
    }
  }

  get encrypts(): boolean {
    return this.keys.length > 0;
  }

  /**
   * The value to store for a subscription's secret: sealed with the first key, or the secret itself
   * without keys. The subscription id is authenticated with it, so a sealed value copied to another
   * subscription does not open.
   */
  seal(secret: string, subscriptionId: string): string {
    const key = this.keys[0];
    if (!key) return secret;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key.bytes, iv, { authTagLength: 16 });
    cipher.setAAD(Buffer.from(subscriptionId, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return `${PREFIX}:${key.id}:${Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64url')}`;
  }

  /**
   * The secret of a stored value; throws if it was sealed with a key that is not listed, for another
   * subscription, or altered.
   */
  open(stored: string, subscriptionId: string): string {
    if (!stored.startsWith(`${PREFIX}:`)) return stored;
    const [, keyId, payload] = stored.split(':');
    const key = this.keys.find((k) => k.id === keyId);
    if (!key || !payload) {
      throw new Error(
        `a webhook secret is sealed with key ${keyId}, which WEBHOOK_SECRETS_KEYS does not list`,
      );
    }
    const raw = Buffer.from(payload, 'base64url');
    if (raw.length <= 28) throw new Error('a sealed webhook secret is truncated');
    const decipher = createDecipheriv('aes-256-gcm', key.bytes, raw.subarray(0, 12), { authTagLength: 16 });
    decipher.setAAD(Buffer.from(subscriptionId, 'utf8'));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }

  /** Whether a stored value is not sealed with the first key (plain, or an older key). */
  needsReseal(stored: string): boolean {
    const key = this.keys[0];
    return key !== undefined && !stored.startsWith(`${PREFIX}:${key.id}:`);
  }
}
