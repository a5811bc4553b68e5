// Writes grafana/dashboards/*.json from src/metrics/dashboards.ts (`npm run grafana:dashboards`).
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { renderDashboardFiles } from '../src/metrics/dashboards.js';

const folder = new URL('../grafana/dashboards/', import.meta.url);
const files = renderDashboardFiles();
for (const stale of readdirSync(folder).filter((name) => name.endsWith('.json') && !(name in files))) {
  rmSync(new URL(stale, folder));
  console.log(`removed grafana/dashboards/${stale}`);
}
for (const [name, text] of Object.entries(files)) {
  const path = new URL(name, folder);
  let before = '';
  try {
    before = readFileSync(path, 'utf8');
  } catch {}
  if (before === text) continue;
  writeFileSync(path, text);
  console.log(`wrote grafana/dashboards/${name}`);
}
console.log('grafana dashboards are current');
