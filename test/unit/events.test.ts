import { describe, expect, it } from 'vitest';
import { EnvelopeSchema, eventCatalog, eventTypes, parseEnvelope } from '../../src/events/catalog.js';
import { renderEventsDoc } from '../../src/events/docs.js';
import { buildEvent, messageKeyOf, systemActor, systemMeta } from '../../src/events/envelope.js';

const meta = { ip: '2001:db8::1', userAgent: 'test', requestId: 'req-1' };
const userId = '01a21075-9e1d-776d-8b43-076a77078408';

describe('the event catalogue', () => {
  it('puts logins, failures, logouts, refreshes and sessions on auth-events; user changes on user-changes', () => {
    const topicOf = Object.fromEntries(eventTypes.map((type) => [type, eventCatalog[type].topic]));
    expect(topicOf).toEqual({
      'user.registered': 'user-changes',
      'user.login': 'auth-events',
      'user.login.failed': 'auth-events',
      'user.logout': 'auth-events',
      'user.token.refreshed': 'auth-events',
      'user.session.revoked': 'auth-events',
      'user.password.changed': 'user-changes',
      'user.profile.updated': 'user-changes',
      'user.role.changed': 'user-changes',
      'webhook.test': 'platform-events',
      'webhook.subscription.disabled': 'platform-events',
      'webhook.subscription.circuit_opened': 'platform-events',
      'webhook.subscription.circuit_closed': 'platform-events',
      'security.alert': 'platform-events',
    });
  });

  it('builds envelopes with a time-ordered unique id, UTC time and the request metadata', () => {
    const first = buildEvent({
      type: 'user.logout',
      userId,
      actor: { type: 'user', id: userId },
      meta,
      data: { session_id: userId },
    });
    const second = buildEvent({
      type: 'user.logout',
      userId,
      actor: { type: 'user', id: userId },
      meta,
      data: { session_id: userId },
    });
    expect(EnvelopeSchema.parse(first)).toBeTruthy();
    expect(first.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect(second.id > first.id).toBe(true);
    expect(first.occurred_at).toMatch(/Z$/);
    expect(first).toMatchObject({ ip: meta.ip, user_agent: 'test', request_id: 'req-1', user_id: userId });
  });

  it('refuses data that does not match the type, or carries extra fields such as a password', () => {
    expect(() =>
      buildEvent({
        type: 'user.login.failed',
        userId: null,
        actor: systemActor,
        meta: systemMeta,
        data: { email: 'a@b.c', reason: 'bad_credentials', password: 'hunter2' } as never,
      }),
    ).toThrow();
    expect(() =>
      buildEvent({
        type: 'user.role.changed',
        userId,
        actor: systemActor,
        meta,
        data: { from: 'user' } as never,
      }),
    ).toThrow();
  });

  it('keys messages by user id, or by the normalised email for unknown users', () => {
    const known = buildEvent({
      type: 'user.login.failed',
      userId,
      actor: systemActor,
      meta,
      data: { email: 'a@b.c', reason: 'bad_credentials' },
    });
    const unknown = buildEvent({
      type: 'user.login.failed',
      userId: null,
      actor: { type: 'user', id: null },
      meta,
      data: { email: 'ghost@example.com', reason: 'bad_credentials' },
    });
    expect(messageKeyOf(known)).toBe(userId);
    expect(messageKeyOf(unknown)).toBe('ghost@example.com');
  });

  it('parses an envelope back, checking the type-specific data', () => {
    const event = buildEvent({
      type: 'user.registered',
      userId,
      actor: systemActor,
      meta,
      data: { email: 'a@b.c', name: null, role: 'user' },
    });
    expect(parseEnvelope(JSON.parse(JSON.stringify(event)))).toEqual(event);
    expect(() => parseEnvelope({ ...event, data: { email: 5 } })).toThrow();
    expect(() => parseEnvelope({ ...event, type: 'user.exploded' })).toThrow();
  });
});

describe('docs/events.md', () => {
  it('has a section for every event type (the file itself is checked with every generated file)', () => {
    const doc = renderEventsDoc();
    for (const type of eventTypes) expect(doc).toContain(`## ${type}`);
  });
});
