import type { Sql } from '../../db/client.js';
import type { Envelope } from '../../events/catalog.js';
import type { Delivery } from '../deliveries/schema.js';

/** What the worker needs of a delivery to attempt it: its row's state and the event it carries. */
export type DeliveryContext = Pick<
  Delivery,
  'id' | 'status' | 'generation' | 'attempts' | 'subscriptionId'
> & {
  event: Envelope;
};

/**
 * Reads delivery contexts (delivery row and event payload) for the delivery worker, batching the
 * ids asked for within a few milliseconds into one query: one round trip for many deliveries.
 */
export class DeliveryLoader {
  private queued = new Map<string, ((value: DeliveryContext | undefined) => void)[]>();
  private failures = new Map<string, ((error: unknown) => void)[]>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly sql: Sql) {}

  load(id: string): Promise<DeliveryContext | undefined> {
    return new Promise((resolve, reject) => {
      this.queued.set(id, [...(this.queued.get(id) ?? []), resolve]);
      this.failures.set(id, [...(this.failures.get(id) ?? []), reject]);
      this.timer ??= setTimeout(() => void this.flush(), 2);
    });
  }

  private async flush(): Promise<void> {
    const queued = this.queued;
    const failures = this.failures;
    this.queued = new Map();
    this.failures = new Map();
    this.timer = undefined;
    try {
      // One statement by primary key (the process's sessions never scan a whole table: see
      // HOT_PATH_PROCESSES in src/platform/dependencies.ts).
      const rows = await this.sql<
        {
          id: string;
          status: Delivery['status'];
          generation: number;
          attempts: number;
          subscription_id: string;
          payload: Envelope;
        }[]
      >`
        SELECT d.id, d.status, d.generation, d.attempts, d.subscription_id, e.payload
        FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
        WHERE d.id = ANY(${[...queued.keys()]}::uuid[])`;
      const byId = new Map(rows.map((row) => [row.id, row]));
      for (const [id, resolvers] of queued) {
        const row = byId.get(id);
        const context = row && {
          id: row.id,
          status: row.status,
          generation: row.generation,
          attempts: row.attempts,
          subscriptionId: row.subscription_id,
          event: row.payload,
        };
        for (const resolve of resolvers) resolve(context);
      }
    } catch (error) {
      for (const rejects of failures.values()) for (const reject of rejects) reject(error);
    }
  }
}
