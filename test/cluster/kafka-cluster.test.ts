import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AssignerProtocol } from 'kafkajs';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it, onTestFailed, onTestFinished, vi } from 'vitest';
import { cpuSeconds } from '../../scripts/bench/children.js';
import { createClickHouse } from '../../src/clickhouse/client.js';
import { createDatabase } from '../../src/db/client.js';
import type { Envelope } from '../../src/events/catalog.js';
import { buildEvent, systemMeta } from '../../src/events/envelope.js';
import { enqueueEvents } from '../../src/events/outbox.js';
import { topics } from '../../src/events/topics.js';
import { createKafka } from '../../src/kafka/client.js';
import { readLag } from '../../src/kafka/lag.js';
import { deliveryIdOf } from '../../src/webhooks/deliveries/delivery-id.js';
import { testConfig, uniqueSuffix } from '../helpers/env.js';
import { testLogger } from '../helpers/logger.js';
import { type OwnPipeline, ownPipeline } from '../helpers/pipeline.js';
import { type SpawnedProcess, spawnProcess } from '../helpers/process.js';
import { type CountingReceiver, startCountingReceiver } from '../helpers/receiver.js';
import { insertSubscription } from '../helpers/subscriptions.js';

// Issue 15's three-broker Kafka: the project's stack scripts start a KRaft cluster of three brokers on
// loopback (scripts/stack/kafka-cluster.sh); the platform's relay, fan-out, delivery and audit
// processes run against it and create their topics with three replicas (min.insync.replicas 2). Events
// written to the outbox flow through the relay to Kafka, to the webhook receiver and to ClickHouse
// while the broker leading a partition of their topic is SIGKILLed, and later started again. No event
// is lost anywhere; duplicates are counted and reported; no process is restarted by hand.

const run = promisify(execFile);
const stackScript = fileURLToPath(new URL('../../scripts/stack.sh', import.meta.url));
const cluster = (...args: string[]) =>
  run('bash', [stackScript, 'kafka-cluster', ...args], { timeout: 180_000 });

const EVENTS = 3_000;
const BATCH = 75;
const USERS = 30;
const suffix = uniqueSuffix();
const { sql, end } = createDatabase({
  url: testConfig.DATABASE_URL,
  poolSize: 2,
  applicationName: 'test-cluster',
});
const clickhouse = createClickHouse({ url: testConfig.CLICKHOUSE_URL });
let subscription: Awaited<ReturnType<typeof insertSubscription>> | undefined;
let pipeline: OwnPipeline | undefined;
const processes: SpawnedProcess[] = [];
let brokers = '';
let receiver: CountingReceiver | undefined;

beforeAll(async () => {
  // A new cluster, empty: whatever a run that could not clean up left is removed first.
  await cluster('reset');
  await cluster('up');
  brokers = (await cluster('bootstrap')).stdout.trim();
}, 240_000);

afterAll(async () => {
  // Every step runs even when one before it fails (the cluster must not be left running), and the
  // first failure is then reported.
  const failures: unknown[] = [];
  const step = (work: () => Promise<unknown> | undefined) =>
    Promise.resolve()
      .then(work)
      .catch((error: unknown) => failures.push(error));
  // The subscription first: whatever happens next, no later test or bench finds it.
  await step(() => subscription?.remove());
  // The processes side by side; one that does not exit within 30 s of SIGTERM is killed, and fails
  // the test (so this hook ends well within its time, and every step below runs).
  await Promise.all(
    processes.map((process) =>
      step(async () => {
        await process.terminate('SIGTERM', 30_000);
        if (process.child.signalCode === 'SIGKILL') {
          throw new Error(`${process.child.spawnargs.at(-1)} did not exit within 30 s of SIGTERM`);
        }
      }),
    ),
  );
  // Its queue and flow lines. Not its consumer groups: they go with the cluster below.
  await step(() => pipeline?.remove({ groups: false }));
  await step(() => end({ timeout: 5 }));
  await step(() => clickhouse.close());
  await step(() => receiver?.close());
  // The cluster and its data go: the next run formats a new one.
  await step(() => cluster('reset'));
  if (failures.length > 0) throw failures[0];
}, 240_000);

describe('a three-broker Kafka cluster', () => {
  it('loses no event from the outbox to the receiver and ClickHouse while a partition leader is SIGKILLed and restarted', async () => {
    receiver = await startCountingReceiver(suffix);
    const { seen } = receiver;
    subscription = await insertSubscription(sql, { url: receiver.url, maxInFlight: 100 });
    // The relay first: it creates the topics, replicated as the cluster allows. The pipeline's
    // consumer groups read them from their start (the cluster is new: only this test's events).
    processes.push(await spawnProcess('relay', { KAFKA_BROKERS: brokers }, { readyTimeoutMs: 120_000 }));
    pipeline = await ownPipeline('cluster', { brokers: brokers.split(','), fromEnd: false });
    const env = {
      ...pipeline.env,
      KAFKA_BROKERS: brokers,
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
    };
    for (const entry of ['fanout', 'delivery', 'audit']) {
      processes.push(await spawnProcess(entry, env, { readyTimeoutMs: 120_000 }));
    }
    const kafka = clusterKafka('test-cluster');
    const admin = kafka.admin();
    await admin.connect();
    const metadata = await admin.fetchTopicMetadata({ topics: [topics.userChanges] });
    const partitions = metadata.topics[0]?.partitions ?? [];
    expect(partitions.length).toBeGreaterThan(0);
    for (const partition of partitions) expect(partition.replicas.length).toBe(3);
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: topics.userChanges, configNames: ['min.insync.replicas'] }],
    });
    expect(configs.resources[0]?.configEntries[0]?.configValue).toBe('2');
    const victim = partitions.find((p) => p.partitionId === 0)?.leader ?? 1;
    await admin.disconnect();

    // The traffic: profile updates of 30 users written to the outbox (as the API's transactions
    // write them), 75 every 200 ms.
    const users = Array.from({ length: USERS }, () => uuidv7());
    const events: Envelope[] = Array.from({ length: EVENTS }, (_, i) => {
      const userId = users[i % USERS] ?? '';
      return buildEvent({
        type: 'user.profile.updated',
        userId,
        actor: { type: 'user', id: userId },
        meta: systemMeta,
        data: { changes: { name: { old: suffix, new: `${suffix}-${i}` } } },
      });
    });
    let written = 0;
    // Every 5 s: how far events got (published, delivery rows made, delivered) and each process's CPU
    // seconds, printed if the test fails: a stage that stops shows whether its process is busy, idle or gone.
    const trace: string[] = [];
    const tracing = setInterval(() => {
      void progressOf(events.map((event) => event.id)).then((progress) => {
        const cpu = processes.map(({ child }) =>
          child.exitCode === null ? cpuSeconds(child.pid) : `exited ${child.exitCode}`,
        );
        trace.push(
          `${new Date().toISOString()} written ${written}, published ${progress.published}, deliveries ${progress.deliveries}, delivered ${seen.size}; cpu (relay, fan-out, delivery, audit) ${cpu.join(', ')}`,
        );
      });
    }, 5_000);
    onTestFinished(() => clearInterval(tracing));
    const writing = (async () => {
      for (; written < EVENTS; written += BATCH) {
        await sql.begin((tx) => enqueueEvents(tx as never, events.slice(written, written + BATCH)));
        // A fixed pace, not a wait for some state: the traffic goes on through the kill.
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    // The leader of the topic's partition 0 is killed once a third is written, and comes back after
    // another third.
    await vi.waitFor(() => expect(written).toBeGreaterThanOrEqual(EVENTS / 3), {
      timeout: 60_000,
      interval: 20,
    });
    await cluster('kill', String(victim));
    const killedAt = Date.now();
    await vi.waitFor(() => expect(written).toBeGreaterThanOrEqual((2 * EVENTS) / 3), {
      timeout: 60_000,
      interval: 20,
    });
    await cluster('start', String(victim));
    const restartedAfterMs = Date.now() - killedAt;
    await writing;

    const ids = events.map((event) => event.id);
    // Whatever fails below, the processes' warnings and errors are printed first: where events stop.
    onTestFailed(async () => {
      console.log(`progress:\n${trace.join('\n')}`);
      const waiting = await sql`
        SELECT attempts, claimed_until > now() AS leased, left(last_error, 200) AS last_error, count(*)::int AS n
        FROM outbox WHERE id = ANY(${ids}::uuid[]) AND published_at IS NULL GROUP BY 1, 2, 3`;
      console.log(`unpublished rows: ${JSON.stringify(waiting)}`);
      const groupIds = [pipeline?.env.FANOUT_GROUP_ID ?? '', pipeline?.env.AUDIT_GROUP_ID ?? ''];
      console.log(await groupsOf(groupIds).catch((error: unknown) => `groups: ${String(error)}`));
      for (const process of processes) {
        const lines = process
          .output()
          .split('\n')
          .filter((line) => /"level":(40|50|60)/.test(line));
        const shown = lines.filter((line) => !line.includes('ECONNREFUSED')).slice(-12);
        console.log(
          `${process.child.spawnargs.at(-1)}: ${lines.length} warnings and errors; the last:\n${shown.join('\n')}`,
        );
      }
    });
    // Outbox → Kafka: every row published.
    await expect.poll(() => publishedOf(ids), { timeout: 120_000, interval: 500 }).toBe(EVENTS);
    // Kafka → the webhook receiver and ClickHouse: every event delivered and stored. Both are waited
    // for, then asserted, so that a failure shows where events went missing.
    const stored = async () => {
      const result = await clickhouse.query({
        query: `SELECT count() AS rows, uniqExact(event_id) AS events FROM hookline.audit_events
          WHERE user_id IN (${users.map((id) => `'${id}'`).join(',')})`,
        format: 'JSONEachRow',
      });
      const [row] = await result.json<{ rows: string; events: string }>();
      return { rows: Number(row?.rows ?? 0), events: Number(row?.events ?? 0) };
    };
    let audit = { rows: 0, events: 0 };
    await vi
      .waitFor(
        async () => {
          audit = await stored();
          expect([seen.size, audit.events]).toEqual([EVENTS, EVENTS]);
        },
        { timeout: 120_000, interval: 500 },
      )
      .catch(() => {});
    const inKafka = await countInKafka(new Set(ids));
    const duplicates = receiver.duplicates();
    const relayLog = processes[0]?.output() ?? '';
    const relayFailures = relayLog.split('outbox relay: publishing failed').length - 1;
    const producerResets = relayLog.split('outbox relay: a new Kafka producer').length - 1;
    // Consumers the watchdog made anew (src/events/consume.ts), in the fan-out and audit processes.
    const consumerRestarts = processes.map((p) => p.output().split('making it anew').length - 1);
    console.log(
      `three brokers, broker ${victim} (leader of ${topics.userChanges}/0) killed at ${EVENTS / 3} events written and started again ${restartedAfterMs} ms later: ${EVENTS} of ${EVENTS} published, ${inKafka.distinct} in Kafka (${inKafka.messages - inKafka.distinct} duplicate messages), ${seen.size} delivered (${duplicates} duplicate deliveries), ${audit.events} in ClickHouse (${audit.rows - audit.events} duplicate rows before merging); the relay failed ${relayFailures} batches and made ${producerResets} new producers; consumers made anew: fan-out ${consumerRestarts[1]}, audit ${consumerRestarts[3]}`,
    );
    expect(inKafka.distinct).toBe(EVENTS);
    expect(ids.filter((id) => !seen.has(id))).toEqual([]);
    expect(audit.events).toBe(EVENTS);
  }, 420_000);
});

/** How many of these outbox rows are published. */
async function publishedOf(ids: string[]): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM outbox WHERE id = ANY(${ids}::uuid[]) AND published_at IS NOT NULL`;
  return row?.n ?? 0;
}

/** Of these events, how many are published and how many have their delivery row. */
async function progressOf(ids: string[]): Promise<{ published: number; deliveries: number }> {
  // By primary key: the delivery ids are made from the pair (a scan by event id would read every
  // partition of the shared database's table).
  const deliveryIds = ids.map((id) => deliveryIdOf(id, subscription?.id ?? ''));
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM webhook_deliveries WHERE id = ANY(${deliveryIds}::uuid[])`;
  return { published: await publishedOf(ids), deliveries: row?.n ?? 0 };
}

/** A Kafka client of the cluster's, for this test's own reads. */
const clusterKafka = (clientId: string) =>
  createKafka({ brokers: brokers.split(','), clientId, logger: testLogger });

/** Each consumer group's members and the partitions each holds, and the groups' lag by partition. */
async function groupsOf(groupIds: string[]): Promise<string> {
  const admin = clusterKafka('test-cluster-groups').admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups(groupIds);
    const lines = groups.map((group) => {
      const members = group.members.map((member) => {
        const assignment = AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
        return `${member.memberId} ${JSON.stringify(assignment?.assignment ?? {})}`;
      });
      return `${group.groupId} ${group.state}: ${members.join('; ')}`;
    });
    // The platform's own lag reading (the hookline_kafka_consumer_lag gauge's).
    const lags = await readLag(
      admin,
      groupIds.map((groupId) => ({ groupId, topics: [topics.userChanges] })),
    );
    for (const groupId of groupIds) {
      const lag = lags.filter((l) => l.group === groupId).map((l) => `${l.partition}:${l.lag}`);
      lines.push(`${groupId} lag by partition of ${topics.userChanges}: ${lag.join(' ')}`);
    }
    return lines.join('\n');
  } finally {
    await admin.disconnect();
  }
}

/** This test's events on the user-changes topic of the cluster, read from the start by a group of its own. */
async function countInKafka(ids: Set<string>): Promise<{ messages: number; distinct: number }> {
  const kafka = clusterKafka('test-cluster-count');
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topics.userChanges);
  await admin.disconnect();
  const groupId = `test-cluster-count-${uniqueSuffix()}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  const seenIds: string[] = [];
  const left = new Map(ends.map((end) => [end.partition, Number(end.offset)]));
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topics.userChanges], fromBeginning: true });
    const done = new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          const id = (JSON.parse(message.value?.toString() ?? '{}') as { id?: string }).id ?? '';
          if (ids.has(id)) seenIds.push(id);
          if (Number(message.offset) + 1 >= (left.get(partition) ?? 0)) left.delete(partition);
          if ([...left.values()].every((end) => end === 0) || left.size === 0) resolve();
        },
      });
    });
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 60_000))]);
  } finally {
    await consumer.disconnect();
    const cleanup = kafka.admin();
    await cleanup.connect();
    await cleanup.deleteGroups([groupId]).catch(() => {});
    await cleanup.disconnect();
  }
  return { messages: seenIds.length, distinct: new Set(seenIds).size };
}
