import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { allEnv } from '../../src/config/env.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

describe('docker-compose.yml', () => {
  it("parses with Debian's docker-compose", async () => {
    const { stdout } = await run('docker-compose', ['-f', 'docker-compose.yml', 'config'], { cwd: root });
    expect(stdout).toContain('services:');
  });

  it("uses the local stack's host ports and only environment names the platform reads", async () => {
    const { stdout } = await run('docker-compose', ['-f', 'docker-compose.yml', 'config'], { cwd: root });
    for (const port of ['5432', '6379', '9092', '8123', '9000', '9090', '3000']) {
      // Debian's docker-compose prints ports in the short form `host-ip:host-port:container-port/proto`.
      expect(stdout, `port ${port}`).toContain(`127.0.0.1:${port}:${port}/tcp`);
    }
    const compose = readFileSync(`${root}/docker-compose.yml`, 'utf8');
    const platformEnv = compose.slice(compose.indexOf('x-platform-env:'), compose.indexOf('x-platform:'));
    const names = [...platformEnv.matchAll(/^ {2}([A-Z_]+):/gm)].map((match) => match[1]);
    expect(names.length).toBeGreaterThan(5);
    for (const name of names) expect(Object.keys(allEnv), name).toContain(name);
  });
});

describe('Prometheus configuration', () => {
  it.each(['prometheus/prometheus.yml', 'prometheus/prometheus.compose.yml'])(
    '%s passes promtool check config',
    async (file) => {
      const { stdout } = await run('promtool', ['check', 'config', file], { cwd: root });
      expect(stdout).toContain('SUCCESS');
    },
  );
});

describe('Prometheus alert rules', () => {
  it('pass promtool check rules', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', 'prometheus/alerts.yml'], { cwd: root });
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('pass their unit tests (promtool test rules), each alert firing and not firing', async () => {
    const { stdout, stderr } = await run('promtool', ['test', 'rules', 'alerts.test.yml'], {
      cwd: `${root}/prometheus`,
    });
    expect(`${stdout}${stderr}`).toContain('SUCCESS');
    const tests = readFileSync(`${root}/prometheus/alerts.test.yml`, 'utf8');
    const rules = readFileSync(`${root}/prometheus/alerts.yml`, 'utf8');
    for (const [, name] of rules.matchAll(/- alert: (\w+)/g)) {
      expect(tests.match(new RegExp(`alertname: ${name}\\b`, 'g'))?.length ?? 0, name).toBeGreaterThanOrEqual(
        2,
      );
    }
  });
});
