// Regenerates the configuration reference of README.md from src/config/env.ts (`npm run docs:config`).
import { readFileSync, writeFileSync } from 'node:fs';
import { withConfigTable } from '../src/config/docs.js';

const path = new URL('../README.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = withConfigTable(before);
if (after !== before) writeFileSync(path, after);
console.log(
  after === before ? 'README configuration reference is current' : 'README configuration reference updated',
);
