import { describe, expect, it } from 'vitest';
import { renderConfigTable } from '../../src/config/docs.js';
import { allEnv } from '../../src/config/env.js';

describe("the README's configuration reference", () => {
  it('lists every variable with a description and its default', () => {
    const table = renderConfigTable();
    for (const [name, schema] of Object.entries(allEnv)) {
      expect(table).toContain(`| \`${name}\` |`);
      expect(schema.description, name).toBeTruthy();
    }
    expect(table).toContain('| `KAFKA_TOPIC_PARTITIONS` | `6` |');
    expect(table).toContain('3000 (api)');
  });
});
