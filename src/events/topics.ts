/**
 * The Kafka topics of the platform, declared once. The stack script, the processes at start and the
 * tests all create them from this list (idempotently).
 */
export const topics = {
  /** Sign-ins, failed sign-ins, sign-outs, token refreshes and session events. */
  authEvents: 'auth-events',
  /** Registrations, profile, password and role changes. */
  userChanges: 'user-changes',
  /** Operational events of the platform itself (a webhook subscription disabled, security alerts). */
  platformEvents: 'platform-events',
} as const;

export type TopicName = (typeof topics)[keyof typeof topics];

export const allTopics: TopicName[] = Object.values(topics);
