import { type Algorithm, hash, verify } from '@node-rs/argon2';

/** `Algorithm.Argon2id` (a const enum, which isolated modules cannot read). */
export const ARGON2ID = 2 as Algorithm;

import { dictionary } from '@zxcvbn-ts/language-common';

/**
 * Password hashing with argon2id through @node-rs/argon2 (prebuilt binaries; hashing runs on the
 * libuv thread pool, off the event loop). Parameters at or above OWASP's minimum (m=19 MiB, t=2, p=1);
 * a stored hash with weaker parameters is upgraded at the next successful login.
 */
export interface HashParams {
  memoryKiB: number;
  iterations: number;
}

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

export class PasswordHasher {
  /** A hash of a random password: verified against for unknown emails, so they take as long. */
  private dummyHash: Promise<string>;

  constructor(
    private readonly params: HashParams,
    private readonly observe: (seconds: number, operation: 'hash' | 'verify') => void = () => {},
  ) {
    this.dummyHash = this.hash(crypto.randomUUID());
  }

  async hash(password: string): Promise<string> {
    const started = performance.now();
    try {
      return await hash(password, {
        algorithm: ARGON2ID,
        memoryCost: this.params.memoryKiB,
        timeCost: this.params.iterations,
        parallelism: 1,
      });
    } finally {
      this.observe((performance.now() - started) / 1_000, 'hash');
    }
  }

  async verify(storedHash: string, password: string): Promise<boolean> {
    const started = performance.now();
    try {
      return await verify(storedHash, password);
    } catch {
      return false;
    } finally {
      this.observe((performance.now() - started) / 1_000, 'verify');
    }
  }

  /** Spends the time of one verification and returns false: for unknown emails. */
  async verifyDummy(password: string): Promise<false> {
    await this.verify(await this.dummyHash, password);
    return false;
  }

  /** True when the stored hash uses weaker parameters (or another algorithm) than configured. */
  needsRehash(storedHash: string): boolean {
    const match = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(storedHash);
    if (!match) return true;
    return Number(match[1]) < this.params.memoryKiB || Number(match[2]) < this.params.iterations;
  }
}

/** The most common passwords (about 49,000, from zxcvbn's frequency lists), lower-cased. */
const commonPasswords = new Set(dictionary['passwords-common'].map((password) => password.toLowerCase()));

export const commonPasswordCount = commonPasswords.size;

/**
 * NIST 800-63B style policy: 8 to 128 characters (counted as Unicode code points), any characters,
 * no composition rules, and not one of the most common passwords. Returns the reason it is refused.
 */
export function passwordProblem(password: string): string | undefined {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `must be at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `must be at most ${PASSWORD_MAX_LENGTH} characters`;
  if (commonPasswords.has(password.toLowerCase()))
    return 'is one of the most common passwords; choose another';
  return undefined;
}
