// The bench's and the tests' events: `user.profile.updated` produced into Kafka, in bulk or at a
// steady rate.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Producer } from 'kafkajs';
import { v7 as uuidv7 } from 'uuid';
import type { Envelope } from '../../src/events/catalog.js';
import { buildEvent, messageKeyOf, systemMeta } from '../../src/events/envelope.js';
import { topics } from '../../src/events/topics.js';

export interface Load {
  /** `count` events, sent in batches of 1,000 as fast as Kafka takes them. */
  produce(count: number): Promise<void>;
  /** `rate` events a second for `seconds`, in a batch every 50 ms. Returns how many were sent. */
  paced(rate: number, seconds: number): Promise<number>;
}

/** A `user.profile.updated` event of a new user whose name changed from `from` to `to`. */
export function profileUpdate(from: string, to: string) {
  const userId = uuidv7();
  return buildEvent({
    type: 'user.profile.updated',
    userId,
    actor: { type: 'user', id: userId },
    meta: systemMeta,
    data: { changes: { name: { old: from, new: to } } },
  });
}

/** Sends events to the user-changes topic as the relay would (keyed by user, every replica acking). */
export async function sendEvents(producer: Producer, events: readonly Envelope[]): Promise<void> {
  await producer.send({
    topic: topics.userChanges,
    acks: -1,
    messages: events.map((e) => ({ key: messageKeyOf(e), value: JSON.stringify(e) })),
  });
}

export function loadOf(producer: Producer, run: string): Load {
  const produce = async (count: number) => {
    for (let startAt = 0; startAt < count; startAt += 1_000) {
      const events = Array.from({ length: Math.min(1_000, count - startAt) }, () =>
        profileUpdate('bench', run),
      );
      await sendEvents(producer, events);
    }
  };
  const paced = async (rate: number, seconds: number) => {
    const total = rate * seconds;
    const tick = 50;
    const perTick = Math.max(1, Math.round((rate * tick) / 1_000));
    const startedAt = Date.now();
    for (let sent = 0; sent < total; sent += perTick) {
      const due = startedAt + (sent / rate) * 1_000;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      await produce(Math.min(perTick, total - sent));
    }
    return total;
  };
  return { produce, paced };
}
