import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generatedFiles, rootUrl, staleFiles } from '../../scripts/generated.js';

// Every generated file (the README's configuration reference, docs/events.md, docs/openapi.json, the
// Grafana dashboards)
// is exactly what its source makes: run `npm run generate` after changing a source.
describe('the generated files', () => {
  it('are each exactly what its source generates, and none is left that no source makes', async () => {
    const files = await generatedFiles();
    expect([...files.keys()]).toEqual(
      expect.arrayContaining([
        'README.md',
        'docs/events.md',
        'docs/openapi.json',
        'grafana/dashboards/webhooks.json',
      ]),
    );
    for (const [path, text] of files) expect(readFileSync(new URL(path, rootUrl), 'utf8'), path).toBe(text);
    expect(staleFiles(files)).toEqual({ changed: [], orphans: [] });
  });
});
