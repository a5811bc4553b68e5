import { z } from 'zod';
import { type TopicName, topics } from './topics.js';

/**
 * Every event type of the platform, declared once: its topic, a description and the zod schema of
 * its `data`. `GET /v1/event-types`, docs/events.md and the validation of every event written to the
 * outbox all come from this catalogue. Events never carry a password, a hash or a token.
 */

export const ActorSchema = z.object({
  type: z.enum(['user', 'admin', 'system', 'api_key']).describe('Who did it.'),
  id: z.string().nullable().describe('The acting user or API key id; null for the system.'),
});
export type Actor = z.infer<typeof ActorSchema>;

const sessionId = z.uuid().describe('The session concerned.');
const email = z.string().describe('The normalised (trimmed, lower-cased) email address.');
const role = z.string().describe('A role name, e.g. `user` or `admin`.');

export const revokeReasons = [
  'logout',
  'revoked_by_user',
  'other_sessions_revoked',
  'revoked_by_admin',
  'password_changed',
  'refresh_token_reuse',
] as const;

export const securityAlertKinds = ['credential_stuffing', 'new_ip_after_failures'] as const;

export const eventCatalog = {
  'user.registered': {
    topic: topics.userChanges,
    description: 'A user registered (or was created by the system, e.g. the first admin).',
    data: z.object({ email, name: z.string().nullable(), role }),
  },
  'user.login': {
    topic: topics.authEvents,
    description: 'A user signed in with email and password; a session was created.',
    data: z.object({ session_id: sessionId, email }),
  },
  'user.login.failed': {
    topic: topics.authEvents,
    description:
      'A sign-in failed. `user_id` is null when the email is unknown; the attempted email is kept, never the password.',
    data: z.object({
      email: email.describe('The attempted email, normalised.'),
      reason: z
        .enum(['bad_credentials', 'locked'])
        .describe(
          '`bad_credentials`: unknown email or wrong password; `locked`: refused by a brute-force limit.',
        ),
      limit: z
        .enum(['ip', 'account_ip', 'account'])
        .optional()
        .describe('For `locked`: which limit refused the attempt.'),
    }),
  },
  'user.logout': {
    topic: topics.authEvents,
    description: 'A user signed out; the session is revoked.',
    data: z.object({ session_id: sessionId }),
  },
  'user.token.refreshed': {
    topic: topics.authEvents,
    description: 'A refresh token was exchanged for new tokens (the refresh token rotates).',
    data: z.object({ session_id: sessionId }),
  },
  'user.session.revoked': {
    topic: topics.authEvents,
    description: 'A session was revoked, by the user, an admin or the system, with the reason.',
    data: z.object({
      session_id: sessionId,
      reason: z.enum(revokeReasons),
      revoked_by: ActorSchema.describe('Who revoked it (the same as the envelope `actor`).'),
    }),
  },
  'user.password.changed': {
    topic: topics.userChanges,
    description: "A user changed their password; the user's other sessions were revoked.",
    data: z.object({
      revoked_sessions: z.number().int().min(0).describe('How many other sessions were revoked.'),
    }),
  },
  'user.profile.updated': {
    topic: topics.userChanges,
    description: 'A user changed profile fields; each changed field with its old and new value.',
    data: z.object({
      changes: z
        .record(z.string(), z.object({ old: z.string().nullable(), new: z.string().nullable() }))
        .describe('Changed fields only, by field name.'),
    }),
  },
  'user.role.changed': {
    topic: topics.userChanges,
    description: "A user's role changed; it applies to the user's existing sessions at once.",
    data: z.object({ from: role, to: role, by: ActorSchema }),
  },
  'webhook.test': {
    topic: topics.platformEvents,
    description:
      'A test event sent to one subscription on request (`POST /v1/webhooks/subscriptions/{id}/test`); never published to Kafka.',
    data: z.object({
      subscription_id: z.uuid().describe('The subscription being tested.'),
      message: z.string().describe('A fixed message.'),
    }),
  },
  'webhook.subscription.disabled': {
    topic: topics.platformEvents,
    description:
      'A webhook subscription was disabled: its endpoint answered 410 Gone, or its deliveries kept failing for too long.',
    data: z.object({
      subscription_id: z.uuid(),
      url: z.string(),
      reason: z.string().describe('Why it was disabled.'),
      failing_since: z.iso.datetime().nullable().describe('Since when deliveries had been failing.'),
    }),
  },
  'webhook.subscription.circuit_opened': {
    topic: topics.platformEvents,
    description:
      "A subscription's circuit breaker opened: its endpoint kept failing, so its deliveries wait (not attempted, no retry used) until a probe attempt succeeds.",
    data: z.object({
      subscription_id: z.uuid(),
      url: z.string(),
      consecutive_failures: z.number().int().describe('Failed attempts in a row that opened it.'),
      next_probe_at: z.iso.datetime().describe('When one probe attempt will be let through.'),
    }),
  },
  'webhook.subscription.circuit_closed': {
    topic: topics.platformEvents,
    description:
      "A subscription's circuit breaker closed: an attempt succeeded, and its waiting deliveries flow again.",
    data: z.object({
      subscription_id: z.uuid(),
      url: z.string(),
      opened_at: z.iso.datetime().nullable().describe('When the breaker had opened.'),
    }),
  },
  'security.alert': {
    topic: topics.platformEvents,
    description:
      'The audit worker saw suspicious activity: many failed logins on one account from several IPs (credential stuffing), or a login from an IP never seen for the user right after failures.',
    data: z.object({
      kind: z.enum(securityAlertKinds),
      email: z.string().describe('The account concerned.'),
      evidence: z
        .object({
          failures: z.number().int().describe('Failed logins in the window.'),
          ips: z.number().int().describe('Distinct IPs they came from.'),
          window_seconds: z.number().int(),
          ip: z.string().optional().describe('For new_ip_after_failures: the new IP.'),
        })
        .strict(),
    }),
  },
} as const satisfies Record<string, { topic: TopicName; description: string; data: z.ZodObject }>;

export type EventType = keyof typeof eventCatalog;
export const eventTypes = Object.keys(eventCatalog) as EventType[];
export type EventData<T extends EventType> = z.infer<(typeof eventCatalog)[T]['data']>;

export const EnvelopeSchema = z.object({
  id: z.uuid().describe('Unique, time-ordered (UUIDv7) event id.'),
  type: z.enum(eventTypes as [EventType, ...EventType[]]),
  occurred_at: z.iso.datetime().describe('When it happened, UTC ISO-8601.'),
  user_id: z
    .uuid()
    .nullable()
    .describe('The user the event is about; null for failed logins of unknown emails.'),
  actor: ActorSchema,
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  request_id: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
});

export type Envelope<T extends EventType = EventType> = Omit<
  z.infer<typeof EnvelopeSchema>,
  'type' | 'data'
> & {
  type: T;
  data: EventData<T>;
};

/** Parses an envelope and its type-specific data; throws on anything invalid. */
export function parseEnvelope(value: unknown): Envelope {
  const envelope = EnvelopeSchema.parse(value);
  const data = eventCatalog[envelope.type].data.parse(envelope.data);
  return { ...envelope, data } as Envelope;
}
