export * from './api-keys.js';
export * from './outbox.js';
export * from './refresh-tokens.js';
export * from './roles.js';
export * from './sessions.js';
export * from './users.js';
export * from './webhooks.js';
