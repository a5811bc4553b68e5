import type { Sql } from '../../db/client.js';
import type { Logger } from '../../logger.js';
import type { Component } from '../../platform/component.js';
import { matchesAny } from './filters.js';
import { type Subscription, subscriptionColumns } from './schema.js';
import { SecretBox } from './secret-box.js';

export const SUBSCRIPTIONS_CHANNEL = 'hookline_subscriptions';

/** Tells every process's index that subscriptions changed (inside a transaction: on commit). */
export async function notifySubscriptionsChanged(sql: Sql): Promise<void> {
  await sql`SELECT pg_notify(${SUBSCRIPTIONS_CHANNEL}, '')`;
}

/** What fan-out and delivery need of a subscription, held in memory. */
export type ActiveSubscription = Pick<
  Subscription,
  'id' | 'url' | 'eventTypes' | 'headers' | 'enabled' | 'maxInFlight' | 'rateLimitPerSecond' | 'createdAt'
> & {
  /**
   * The secrets that sign now: the current one, and the previous one during a rotation overlap; none
   * when they cannot be decrypted (WEBHOOK_SECRETS_KEYS lacks their key).
   */
  secrets: string[];
  previousSecretExpiresAt: number | null;
};

/**
 * An in-memory index of webhook subscriptions, so matching an event costs no query. Every change to a
 * subscription NOTIFYs on a channel (in its transaction); each process's index listens and reloads
 * (debounced), and also reloads every `fullReloadMs` as a safety net. Matches are cached per event
 * type until the next reload.
 */
export class SubscriptionIndex implements Component {
  readonly name = 'subscription-index';
  private byId = new Map<string, ActiveSubscription>();

  /** How many subscriptions the index holds (enabled or not), as of its last load. */
  get size(): number {
    return this.byId.size;
  }
  private byType = new Map<string, ActiveSubscription[]>();
  private timer: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private loading: Promise<void> | undefined;
  /** The load that follows the running one, for the calls made while it runs. */
  private next: Promise<void> | undefined;

  constructor(
    private readonly sql: Sql,
    private readonly logger: Logger,
    private readonly secrets = new SecretBox([]),
    private readonly fullReloadMs = 30_000,
  ) {}

  /** Subscriptions whose unreadable secret was already logged (once each, not at every reload). */
  private readonly reported = new Set<string>();

  /**
   * The secrets that can sign, each opened on its own: an unreadable previous secret does not stop the
   * current one from signing. None when the current one cannot be opened (an error is logged once).
   */
  private openSecrets(row: Subscription, previousValid: boolean): string[] {
    const open = (stored: string, which: string) => {
      try {
        return this.secrets.open(stored, row.id);
      } catch (error) {
        if (!this.reported.has(`${row.id}:${which}`)) {
          this.reported.add(`${row.id}:${which}`);
          this.logger.error(
            { err: error, subscriptionId: row.id, which },
            'cannot read a signing secret of a subscription: WEBHOOK_SECRETS_KEYS does not list its key',
          );
        }
        return undefined;
      }
    };
    const current = open(row.secret, 'current');
    if (current === undefined) return [];
    const previous = previousValid && row.previousSecret ? open(row.previousSecret, 'previous') : undefined;
    return previous === undefined ? [current] : [current, previous];
  }

  /**
   * A component of the process, listed by each plan that needs it (fan-out, delivery): a process that
   * runs several starts it once, before its workers, and stops it after them.
   */
  async start(): Promise<void> {
    const listener = await this.sql.listen(
      SUBSCRIPTIONS_CHANNEL,
      () => this.scheduleReload(),
      () => this.scheduleReload(),
    );
    this.unlisten = () => listener.unlisten();
    await this.reload();
    this.timer = setInterval(() => this.scheduleReload(), this.fullReloadMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.pending);
    await this.unlisten?.().catch(() => {});
  }

  private scheduleReload(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.reload().catch((error: unknown) =>
        this.logger.error({ err: error }, 'could not reload subscriptions'),
      );
    }, 20);
  }

  /**
   * Loads every subscription; resolves once a load that started after this call has ended. A call
   * made while a load runs waits for the next one (calls made meanwhile share it): the running load
   * may have read the table before the change that prompted the call was committed.
   */
  reload(): Promise<void> {
    if (this.loading) {
      // After the running load, whether it succeeded or not (its own callers get its error).
      this.next ??= this.loading
        .catch(() => {})
        .then(() => {
          this.next = undefined;
          return this.reload();
        });
      return this.next;
    }
    this.loading = (async () => {
      try {
        const rows = await this.sql<Subscription[]>`
          SELECT ${subscriptionColumns(this.sql)} FROM webhook_subscriptions`;
        const now = Date.now();
        const byId = new Map<string, ActiveSubscription>();
        for (const row of rows) {
          const expiresAt = row.previousSecret ? (row.previousSecretExpiresAt?.getTime() ?? null) : null;
          const previousValid = expiresAt !== null && expiresAt > now;
          byId.set(row.id, {
            id: row.id,
            url: row.url,
            eventTypes: row.eventTypes,
            headers: row.headers,
            enabled: row.enabled,
            secrets: this.openSecrets(row, previousValid),
            previousSecretExpiresAt: previousValid ? expiresAt : null,
            maxInFlight: row.maxInFlight,
            rateLimitPerSecond: row.rateLimitPerSecond,
            createdAt: row.createdAt,
          });
        }
        this.byId = byId;
        this.byType = new Map();
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  /**
   * Enabled subscriptions whose filters match the event type and that existed when the event occurred
   * (ms): a subscription gets the events from its creation on, never a backlog older than itself (a
   * fan-out group behind, or new and reading the topics from their beginning, reads such events).
   */
  match(type: string, occurredAt: number): ActiveSubscription[] {
    let found = this.byType.get(type);
    if (!found) {
      found = [...this.byId.values()].filter((sub) => sub.enabled && matchesAny(sub.eventTypes, type));
      this.byType.set(type, found);
    }
    return found.filter((sub) => sub.createdAt.getTime() <= occurredAt);
  }

  /** A subscription by id; its secrets drop the previous one once the overlap has ended. */
  get(id: string): ActiveSubscription | undefined {
    const sub = this.byId.get(id);
    if (sub?.previousSecretExpiresAt && sub.previousSecretExpiresAt <= Date.now()) {
      return { ...sub, secrets: sub.secrets.slice(0, 1), previousSecretExpiresAt: null };
    }
    return sub;
  }

  /** Reads one subscription through, for a delivery whose subscription this index has not seen yet. */
  async fetch(id: string): Promise<ActiveSubscription | undefined> {
    if (!this.byId.has(id)) await this.reload();
    return this.get(id);
  }
}

/** The max_in_flight of these subscriptions (enabled or not), by id; one missing does not exist. */
export async function maxInFlightsOf(sql: Sql, ids: readonly string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const rows = await sql<{ id: string; max_in_flight: number }[]>`
    SELECT id, max_in_flight FROM webhook_subscriptions WHERE id = ANY(${ids as string[]}::uuid[])`;
  return new Map(rows.map((row) => [row.id, row.max_in_flight]));
}
