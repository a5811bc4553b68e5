// Creates the platform's Kafka topics on the configured brokers (used by `npm run stack:up`).
import { loadConfig } from '../src/config/load.js';
import { allTopics } from '../src/events/topics.js';
import { createKafka } from '../src/kafka/client.js';
import { ensureTopics } from '../src/kafka/topics.js';
import { createLogger } from '../src/logger.js';

const config = loadConfig('all', process.env);
const logger = createLogger({ level: config.LOG_LEVEL, process: 'kafka-topics' });
const admin = createKafka({
  brokers: config.KAFKA_BROKERS,
  clientId: config.KAFKA_CLIENT_ID,
  logger,
}).admin();
await admin.connect();
try {
  await ensureTopics(admin, {
    topics: allTopics,
    partitions: config.KAFKA_TOPIC_PARTITIONS,
    replicationFactor: config.KAFKA_REPLICATION_FACTOR,
    logger,
  });
  logger.info({ topics: allTopics }, 'topics ready');
} finally {
  await admin.disconnect();
}
