import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';
import { type ClickHouseClient, createClickHouse } from '../../src/clickhouse/client.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (!address || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

export interface ClickHouseServer {
  url: string;
  client: ClickHouseClient;
  stop: () => Promise<void>;
}

/**
 * A second clickhouse-server (the stack's binary: Debian's 18.16) with its own data in a temporary
 * directory and its own server time zone, on free loopback ports; it starts in about half a second.
 */
export async function startClickHouseServer(options: { timeZone: string }): Promise<ClickHouseServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hookline-clickhouse-'));
  try {
    await copyFile(path.join(root, 'scripts', 'clickhouse', 'users.xml'), path.join(dir, 'users.xml'));
    for (let attempt = 1; ; attempt++) {
      const [httpPort, tcpPort] = [await freePort(), await freePort()];
      await writeFile(
        path.join(dir, 'config.xml'),
        `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/server.err.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <mark_cache_size>67108864</mark_cache_size>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>${options.timeZone}</timezone>
  <mlock_executable>false</mlock_executable>
</yandex>
`,
      );
      const child = spawn('clickhouse-server', [`--config-file=${dir}/config.xml`], { stdio: 'ignore' });
      const exited = once(child, 'exit');
      const url = `http://127.0.0.1:${httpPort}`;
      const up = await Promise.race([
        vi
          .waitFor(
            async () => {
              const ok = await fetch(`${url}/ping`).then((r) => r.text());
              if (ok.trim() !== 'Ok.') throw new Error(`clickhouse-server answered ${ok}`);
            },
            { timeout: 30_000, interval: 50 },
          )
          .then(
            () => true,
            () => false,
          ),
        exited.then(() => false),
      ]);
      if (!up) {
        child.kill('SIGKILL');
        await exited;
        const log = await readFile(path.join(dir, 'server.err.log'), 'utf8').catch(() => '');
        if (attempt < 3) continue; // most likely a port taken meanwhile
        throw new Error(`clickhouse-server (${options.timeZone}) did not start:\n${log.slice(-2_000)}`);
      }
      const client = createClickHouse({ url });
      return {
        url,
        client,
        async stop() {
          await client.close();
          // Its data is thrown away: no need for the graceful shutdown, which takes 18.16 about 8 s.
          if (child.exitCode === null) {
            child.kill('SIGKILL');
            await exited;
          }
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
