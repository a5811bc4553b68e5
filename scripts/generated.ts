// Every generated file of the repository, each from its one source: the README's configuration
// reference (src/config/env.ts), docs/events.md (src/events/catalog.ts), docs/openapi.json (the API's
// routes, src/api/document.ts) and grafana/dashboards/*.json (grafana/dashboards.ts). `npm run generate` writes them; test/unit/generated.test.ts keeps them current.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { renderDashboardFiles } from '../grafana/dashboards.js';
import { apiDocument } from '../src/api/document.js';
import { withConfigTable } from '../src/config/docs.js';
import { renderEventsDoc } from '../src/events/docs.js';

const root = new URL('../', import.meta.url);
const DASHBOARDS = 'grafana/dashboards/';

const read = (path: string) =>
  existsSync(new URL(path, root)) ? readFileSync(new URL(path, root), 'utf8') : '';

/** Each generated file's path (from the repository's root) and the text it must hold. */
export async function generatedFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>([
    ['README.md', withConfigTable(read('README.md'))],
    ['docs/events.md', renderEventsDoc()],
    ['docs/openapi.json', await apiDocument()],
  ]);
  for (const [name, text] of Object.entries(renderDashboardFiles())) files.set(`${DASHBOARDS}${name}`, text);
  return files;
}

/** Generated files that are not current (their path), and generated files no source makes any more. */
export function staleFiles(files: Map<string, string>): { changed: string[]; orphans: string[] } {
  const changed = [...files].filter(([path, text]) => read(path) !== text).map(([path]) => path);
  const orphans = readdirSync(new URL(DASHBOARDS, root))
    .filter((name) => name.endsWith('.json'))
    .map((name) => `${DASHBOARDS}${name}`)
    .filter((path) => !files.has(path));
  return { changed, orphans };
}

export const rootUrl = root;
