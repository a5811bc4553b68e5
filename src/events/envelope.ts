import { v7 as uuidv7 } from 'uuid';
import type { z } from 'zod';
import {
  type Actor,
  type Envelope,
  type EventData,
  type EventType,
  eventCatalog,
  eventTypes,
} from './catalog.js';

/** Where a request came from, carried into the events it causes. */
export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

export const systemMeta: RequestMeta = { ip: null, userAgent: null, requestId: null };
export const systemActor: Actor = { type: 'system', id: null };

/** Each type's data schema, strict (extra fields refused), built once: a schema compiles its parser
 * on first use, so a schema made per event would compile per event. */
const strictData = Object.fromEntries(
  eventTypes.map((type) => [type, (eventCatalog[type].data as z.ZodObject).strict()]),
) as Record<EventType, z.ZodObject>;

/**
 * Builds a validated event envelope. The data is parsed with the type's schema, so an event that
 * does not match its catalogue entry (or carries extra fields, like a password) never leaves.
 */
export function buildEvent<T extends EventType>(input: {
  type: T;
  userId: string | null;
  actor: Actor;
  meta: RequestMeta;
  data: EventData<T>;
  occurredAt?: Date;
}): Envelope<T> {
  const data = strictData[input.type].parse(input.data);
  return {
    id: uuidv7(),
    type: input.type,
    occurred_at: (input.occurredAt ?? new Date()).toISOString(),
    user_id: input.userId,
    actor: input.actor,
    ip: input.meta.ip,
    user_agent: input.meta.userAgent,
    request_id: input.meta.requestId,
    data: data as EventData<T>,
  };
}

/** The Kafka message key: the user id (per-user order), or the normalised email for unknown users. */
export function messageKeyOf(envelope: Envelope): string {
  if (envelope.user_id) return envelope.user_id;
  const email = (envelope.data as { email?: string }).email;
  return email ?? envelope.id;
}

/** An event the platform raises itself (about no user, by the system), e.g. about a subscription. */
export function buildSystemEvent<T extends EventType>(type: T, data: EventData<T>): Envelope<T> {
  return buildEvent({ type, userId: null, actor: systemActor, meta: systemMeta, data });
}
