import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/load.js';

/** The configuration tests use: the same variables and defaults as the platform (the local stack). */
export const testConfig = loadConfig('all', process.env);

/** A short random suffix so that each test's topics, queues, tables and users are its own. */
export const uniqueSuffix = () => `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
