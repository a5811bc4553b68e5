import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '../../src/clickhouse/client.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** The Python of the suite's virtualenv (scripts/test.sh installs chdb and schemathesis into it). */
export const python = path.resolve(root, process.env.PYTHON_VENV ?? '.stack/venv', 'bin', 'python');
const runner = path.join(root, 'test', 'helpers', 'chdb_runner.py');

export interface Chdb {
  /** The subset of the ClickHouse client that hookline uses: query (JSONEachRow), command, insert. */
  client: ClickHouseClient;
  close: () => Promise<void>;
}

/**
 * A current ClickHouse (chDB, the engine of ClickHouse 26.x in a Python process) with its data in a
 * temporary directory, in the given server time zone, behind the same client interface as the stack's
 * ClickHouse, so the platform's own code runs on it unchanged.
 */
export async function startChdb(options: { timeZone: string }): Promise<Chdb> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'hookline-chdb-'));
  const child = spawn(python, [runner, dataDir], {
    env: { ...process.env, TZ: options.timeZone },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  let exited: Error | undefined;
  const fail = (error: Error) => {
    exited = error;
    for (const { reject } of waiting.values()) reject(error);
    waiting.clear();
  };
  child.stdin.on('error', () => {}); // a write after the process died: reported by 'exit'
  child.on('exit', (code) => fail(new Error(`chdb exited with ${code}: ${stderr.slice(-2_000)}`)));
  child.on('error', (error) =>
    fail(
      new Error(
        `cannot run ${python} (scripts/test.sh installs chdb into that virtualenv): ${error.message}`,
      ),
    ),
  );
  createInterface({ input: child.stdout }).on('line', (line) => {
    const answer = JSON.parse(line) as { id: number; result?: string; error?: string };
    const request = waiting.get(answer.id);
    waiting.delete(answer.id);
    if (answer.error !== undefined) request?.reject(new Error(answer.error));
    else request?.resolve(answer.result ?? '');
  });
  let next = 0;
  const run = (query: string, format?: string) =>
    new Promise<string>((resolve, reject) => {
      if (exited) return reject(exited);
      const id = next++;
      waiting.set(id, { resolve, reject });
      if (id > 0) child.stdin.write(`${JSON.stringify({ id, query, format })}\n`);
    });
  try {
    await run(''); // id 0: the runner's "ready"
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }

  const client = {
    async query({ query, format }: { query: string; format?: string }) {
      const text = await run(query, format ?? 'JSONEachRow');
      return {
        json: async () =>
          text
            .split('\n')
            .filter((line) => line.length > 0)
            .map((line) => JSON.parse(line) as unknown),
        text: async () => text,
      };
    },
    async command({ query }: { query: string }) {
      await run(query);
      return {};
    },
    async insert({ table, values }: { table: string; values: unknown[]; format?: string }) {
      await run(
        `INSERT INTO ${table} FORMAT JSONEachRow\n${values.map((row) => JSON.stringify(row)).join('\n')}`,
      );
      return {};
    },
    async ping() {
      await run('SELECT 1');
      return { success: true };
    },
    async close() {},
  };

  return {
    client: client as unknown as ClickHouseClient,
    async close() {
      if (!exited) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.stdin.end();
        await gone;
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
