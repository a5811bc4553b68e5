import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';

describe('configuration', () => {
  it('defaults every connection to the local stack', () => {
    const config = loadConfig('api', {});
    expect(config.DATABASE_URL).toBe('postgres://hookline:hookline@127.0.0.1:5432/hookline');
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.KAFKA_BROKERS).toEqual(['127.0.0.1:9092']);
    expect(config.CLICKHOUSE_URL).toBe('http://127.0.0.1:8123');
    expect(config.PORT).toBe(3000);
    expect(config.BODY_LIMIT_BYTES).toBe(1024 * 1024);
    expect(config.KAFKA_TOPIC_PARTITIONS).toBe(6);
  });

  it('gives each separately scaled worker its own default port', () => {
    expect(loadConfig('fanout', {}).PORT).toBe(3002);
    expect(loadConfig('delivery', {}).PORT).toBe(3003);
    expect(loadConfig('audit', {}).PORT).toBe(3004);
    expect(loadConfig('fanout', { PORT: '4000' }).PORT).toBe(4000);
  });

  it('splits and trims a comma-separated broker list', () => {
    expect(loadConfig('api', { KAFKA_BROKERS: ' a:1, b:2 ,' }).KAFKA_BROKERS).toEqual(['a:1', 'b:2']);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig('api', { PORT: '', LOG_LEVEL: '' }).PORT).toBe(3000);
  });

  it.each([
    ['KAFKA_BROKERS', 'no-port-here'],
    ['PORT', 'eighty'],
    ['DATABASE_URL', 'mysql://x@y/z'],
    ['REDIS_URL', 'not a url'],
    ['MIGRATE_ON_START', 'perhaps'],
    ['LOG_LEVEL', 'loud'],
    ['BODY_LIMIT_BYTES', '10'],
  ])('refuses a bad %s with an error naming the variable', (variable, value) => {
    let caught: unknown;
    try {
      loadConfig('api', { [variable]: value });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.issues.map((issue) => issue.variable)).toEqual([variable]);
    expect(error.message).toContain(`${variable}:`);
  });

  it('reports every bad variable at once', () => {
    expect(() => loadConfig('api', { PORT: '-1', REDIS_URL: 'http://x' })).toThrow(
      /PORT[\s\S]*REDIS_URL|REDIS_URL[\s\S]*PORT/,
    );
  });
});
