export * from './outbox.js';
export * from './refresh-tokens.js';
export * from './roles.js';
export * from './sessions.js';
export * from './users.js';
