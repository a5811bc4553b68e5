import { hash } from '@node-rs/argon2';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARGON2ID } from '../../src/auth/passwords.js';
import { createDatabase } from '../../src/db/client.js';
import { users } from '../../src/db/schema/index.js';
import { apiClient, signedUpUser, type Tokens, uniqueEmail } from '../helpers/api.js';
import { testConfig } from '../helpers/env.js';
import { type EventRecorder, recordEvents } from '../helpers/events.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';

let platform: TestPlatform;
let recorder: EventRecorder;
const { db, end } = createDatabase({
  url: testConfig.DATABASE_URL,
  poolSize: 2,
  applicationName: 'test-sessions',
});

beforeAll(async () => {
  recorder = await recordEvents();
  // No grace for refresh-token reuse here: a second use is always reuse.
  platform = await startPlatform({ REFRESH_REUSE_GRACE_SECONDS: '0' });
});
afterAll(async () => {
  await platform?.stop();
  await recorder?.stop();
  await end({ timeout: 5 });
});

const ofUser =
  (userId: string, type: string) => (event: { envelope: { user_id: string | null; type: string } }) =>
    event.envelope.user_id === userId && event.envelope.type === type;

describe('sessions', () => {
  it('lists the caller’s active sessions newest first, marking the current one', async () => {
    const user = await signedUpUser(platform.baseUrl, 'list');
    const laptop = apiClient(platform.baseUrl, { userAgent: 'laptop-browser' });
    const second = await laptop.call<Tokens>('POST', '/v1/auth/login', {
      body: { email: user.email, password: user.password },
    });
    type Sessions = {
      items: { id: string; ip: string; user_agent: string; current: boolean; last_used_at: string }[];
    };
    const answer = await user.client.call<Sessions>('GET', '/v1/me/sessions', {
      token: user.tokens.access_token,
    });
    expect(answer.status).toBe(200);
    expect(answer.body.items.map((s) => [s.id, s.current])).toEqual([
      [second.body.session_id, false],
      [user.tokens.session_id, true],
    ]);
    expect(answer.body.items[0]).toMatchObject({ ip: laptop.ip, user_agent: 'laptop-browser' });
  });

  it("a deleted session's access and refresh tokens are refused on the next request; the other sessions keep working", async () => {
    const user = await signedUpUser(platform.baseUrl, 'delete-one');
    const phone = await user.client.call<Tokens>('POST', '/v1/auth/login', {
      body: { email: user.email, password: user.password },
    });
    const deleted = await user.client.call('DELETE', `/v1/me/sessions/${phone.body.session_id}`, {
      token: user.tokens.access_token,
    });
    expect(deleted.status).toBe(204);

    expect((await user.client.call('GET', '/v1/me', { token: phone.body.access_token })).status).toBe(401);
    const refreshed = await user.client.call('POST', '/v1/auth/refresh', {
      body: { refresh_token: phone.body.refresh_token },
    });
    expect(refreshed.status).toBe(401);
    expect((await user.client.call('GET', '/v1/me', { token: user.tokens.access_token })).status).toBe(200);

    const [event] = await recorder.waitFor(ofUser(user.id, 'user.session.revoked'));
    expect(event?.topic).toBe('auth-events');
    expect(event?.envelope.data).toEqual({
      session_id: phone.body.session_id,
      reason: 'revoked_by_user',
      revoked_by: { type: 'user', id: user.id },
    });
  });

  it("answers 404 for another user's session and never revokes it", async () => {
    const alice = await signedUpUser(platform.baseUrl, 'alice');
    const bob = await signedUpUser(platform.baseUrl, 'bob');
    const answer = await alice.client.call('DELETE', `/v1/me/sessions/${bob.tokens.session_id}`, {
      token: alice.tokens.access_token,
    });
    expect(answer.status).toBe(404);
    expect((await bob.client.call('GET', '/v1/me', { token: bob.tokens.access_token })).status).toBe(200);
    const unknown = await alice.client.call(
      'DELETE',
      '/v1/me/sessions/01a21075-9e1d-776d-8b43-000000000001',
      {
        token: alice.tokens.access_token,
      },
    );
    expect(unknown.body).toEqual({
      ...answer.body,
      request_id: unknown.body.request_id,
      instance: unknown.body.instance,
    });
  });

  it('revokes every other session of the caller, keeping the current one', async () => {
    const user = await signedUpUser(platform.baseUrl, 'others');
    const others = await Promise.all(
      [1, 2].map(() =>
        user.client.call<Tokens>('POST', '/v1/auth/login', {
          body: { email: user.email, password: user.password },
        }),
      ),
    );
    expect(
      (await user.client.call('DELETE', '/v1/me/sessions', { token: user.tokens.access_token })).status,
    ).toBe(204);
    for (const other of others)
      expect((await user.client.call('GET', '/v1/me', { token: other.body.access_token })).status).toBe(401);
    expect((await user.client.call('GET', '/v1/me', { token: user.tokens.access_token })).status).toBe(200);
    const events = await recorder.waitFor(ofUser(user.id, 'user.session.revoked'), { count: 2 });
    expect(events.map((e) => (e.envelope.data as { session_id: string }).session_id).sort()).toEqual(
      others.map((o) => o.body.session_id).sort(),
    );
  });

  it('logout revokes the current session at once and publishes user.logout', async () => {
    const user = await signedUpUser(platform.baseUrl, 'logout');
    expect(
      (await user.client.call('POST', '/v1/auth/logout', { token: user.tokens.access_token })).status,
    ).toBe(204);
    expect((await user.client.call('GET', '/v1/me', { token: user.tokens.access_token })).status).toBe(401);
    expect(
      (
        await user.client.call('POST', '/v1/auth/refresh', {
          body: { refresh_token: user.tokens.refresh_token },
        })
      ).status,
    ).toBe(401);
    const [event] = await recorder.waitFor(ofUser(user.id, 'user.logout'));
    expect(event?.topic).toBe('auth-events');
    expect(event?.envelope.data).toEqual({ session_id: user.tokens.session_id });
  });
});

describe('refresh tokens', () => {
  it('rotate on every use and publish user.token.refreshed', async () => {
    const user = await signedUpUser(platform.baseUrl, 'rotate');
    const first = await user.client.call<Tokens>('POST', '/v1/auth/refresh', {
      body: { refresh_token: user.tokens.refresh_token },
    });
    expect(first.status).toBe(200);
    expect(first.body.refresh_token).not.toBe(user.tokens.refresh_token);
    expect(first.body.session_id).toBe(user.tokens.session_id);
    expect((await user.client.call('GET', '/v1/me', { token: first.body.access_token })).status).toBe(200);
    const second = await user.client.call<Tokens>('POST', '/v1/auth/refresh', {
      body: { refresh_token: first.body.refresh_token },
    });
    expect(second.status).toBe(200);
    const events = await recorder.waitFor(ofUser(user.id, 'user.token.refreshed'), { count: 2 });
    for (const event of events) expect(event.envelope.data).toEqual({ session_id: user.tokens.session_id });
  });

  it('presenting an already-used refresh token revokes the whole session (reuse detection)', async () => {
    const user = await signedUpUser(platform.baseUrl, 'reuse');
    const rotated = await user.client.call<Tokens>('POST', '/v1/auth/refresh', {
      body: { refresh_token: user.tokens.refresh_token },
    });
    expect(rotated.status).toBe(200);
    const replay = await user.client.call('POST', '/v1/auth/refresh', {
      body: { refresh_token: user.tokens.refresh_token },
    });
    expect(replay.status).toBe(401);
    // The thief's replay ends the session for everyone holding its tokens, the legitimate ones too.
    expect((await user.client.call('GET', '/v1/me', { token: rotated.body.access_token })).status).toBe(401);
    expect(
      (
        await user.client.call('POST', '/v1/auth/refresh', {
          body: { refresh_token: rotated.body.refresh_token },
        })
      ).status,
    ).toBe(401);
    const [event] = await recorder.waitFor(ofUser(user.id, 'user.session.revoked'));
    expect(event?.envelope).toMatchObject({
      actor: { type: 'system', id: null },
      data: { session_id: user.tokens.session_id, reason: 'refresh_token_reuse' },
    });
  });

  it('two concurrent refreshes with one token: exactly one succeeds', async () => {
    const graceful = await startPlatform({ REFRESH_REUSE_GRACE_SECONDS: '10' });
    try {
      for (let round = 0; round < 3; round++) {
        const user = await signedUpUser(graceful.baseUrl, `race${round}`);
        const answers = await Promise.all(
          Array.from({ length: 5 }, () =>
            user.client.call<Tokens>('POST', '/v1/auth/refresh', {
              body: { refresh_token: user.tokens.refresh_token },
            }),
          ),
        );
        const statuses = answers.map((a) => a.status).sort();
        expect(statuses).toEqual([200, 401, 401, 401, 401]);
        // The losers came within the grace period: the winner's new tokens still work.
        const winner = answers.find((a) => a.status === 200);
        expect((await user.client.call('GET', '/v1/me', { token: winner?.body.access_token })).status).toBe(
          200,
        );
      }
    } finally {
      await graceful.stop();
    }
  });

  it('an unknown or malformed refresh token is refused with 401 or 400', async () => {
    const client = apiClient(platform.baseUrl);
    expect(
      (await client.call('POST', '/v1/auth/refresh', { body: { refresh_token: 'hlr_made-up' } })).status,
    ).toBe(401);
    const missing = await client.call('POST', '/v1/auth/refresh', { body: {} });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ errors: [{ field: 'body.refresh_token' }] });
  });
});

describe('password hashes', () => {
  it('are argon2id at OWASP minimum parameters, never stored in clear', async () => {
    const user = await signedUpUser(platform.baseUrl, 'hash');
    const [row] = await db.select({ hash: users.passwordHash }).from(users).where(eq(users.id, user.id));
    expect(row?.hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(row?.hash).not.toContain(user.password);
  });

  it('are upgraded transparently at login when their parameters are weaker', async () => {
    const client = apiClient(platform.baseUrl);
    const email = uniqueEmail('legacy');
    const password = 'legacy-passphrase-77';
    const registered = await client.call<{ id: string }>('POST', '/v1/auth/register', {
      body: { email, password },
    });
    const weak = await hash(password, {
      algorithm: ARGON2ID,
      memoryCost: 4_096,
      timeCost: 1,
      parallelism: 1,
    });
    await db.update(users).set({ passwordHash: weak }).where(eq(users.id, registered.body.id));

    expect((await client.call('POST', '/v1/auth/login', { body: { email, password } })).status).toBe(200);
    const [row] = await db
      .select({ hash: users.passwordHash })
      .from(users)
      .where(eq(users.id, registered.body.id));
    expect(row?.hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect((await client.call('POST', '/v1/auth/login', { body: { email, password } })).status).toBe(200);
  });
});
