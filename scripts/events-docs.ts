// Regenerates docs/events.md from the event catalogue (`npm run docs:events`).
import { readFileSync, writeFileSync } from 'node:fs';
import { renderEventsDoc } from '../src/events/docs.js';

const path = new URL('../docs/events.md', import.meta.url);
const next = renderEventsDoc();
let before = '';
try {
  before = readFileSync(path, 'utf8');
} catch {}
if (next !== before) writeFileSync(path, next);
console.log(next === before ? 'docs/events.md is current' : 'docs/events.md updated');
