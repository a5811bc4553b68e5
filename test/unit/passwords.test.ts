import { describe, expect, it } from 'vitest';
import { commonPasswordCount, PasswordHasher, passwordProblem } from '../../src/auth/passwords.js';

describe('password policy', () => {
  it('ships a list of at least 10,000 common passwords and refuses them, whatever the case', () => {
    expect(commonPasswordCount).toBeGreaterThanOrEqual(10_000);
    for (const common of ['password', 'PASSWORD1', '12345678', 'qwertyuiop', 'iloveyou']) {
      expect(passwordProblem(common), common).toMatch(/common/);
    }
  });

  it('counts length in code points: 8 to 128, any Unicode, no composition rules', () => {
    expect(passwordProblem('short')).toMatch(/at least 8/);
    expect(passwordProblem('🔑🔑🔑🔑🔑🔑🔑🔑')).toBeUndefined();
    expect(passwordProblem('🔑🔑🔑🔑🔑🔑🔑')).toMatch(/at least 8/);
    expect(passwordProblem('alllowercaseletters')).toBeUndefined();
    expect(passwordProblem('x'.repeat(128))).toBeUndefined();
    expect(passwordProblem('x'.repeat(129))).toMatch(/at most 128/);
  });
});

describe('password hashing', () => {
  const hasher = new PasswordHasher({ memoryKiB: 19_456, iterations: 2 });

  it('hashes with argon2id at the configured parameters and verifies', async () => {
    const hash = await hasher.hash('correct horse battery');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await hasher.verify(hash, 'correct horse battery')).toBe(true);
    expect(await hasher.verify(hash, 'correct horse battery!')).toBe(false);
    expect(await hasher.verify('not a hash', 'x')).toBe(false);
  });

  it('asks for a rehash of weaker or foreign hashes only', () => {
    expect(hasher.needsRehash('$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA')).toBe(false);
    expect(hasher.needsRehash('$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA')).toBe(false);
    expect(hasher.needsRehash('$argon2id$v=19$m=4096,t=2,p=1$c2FsdA$aGFzaA')).toBe(true);
    expect(hasher.needsRehash('$argon2id$v=19$m=19456,t=1,p=1$c2FsdA$aGFzaA')).toBe(true);
    expect(hasher.needsRehash('$2b$10$abcdefghijklmnopqrstuv')).toBe(true);
  });
});
