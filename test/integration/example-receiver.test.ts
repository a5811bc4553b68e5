import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { newSigningSecret, signWebhook } from '../../src/webhooks/delivery/signing.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let child: ChildProcess | undefined;
afterAll(() => {
  child?.kill('SIGTERM');
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('examples/receiver.ts', () => {
  it('accepts a signed webhook once, answers a replay as a duplicate, and rejects a forged one', async () => {
    const secret = newSigningSecret();
    const port = await freePort();
    child = spawn(process.execPath, ['--import', 'tsx', 'examples/receiver.ts'], {
      cwd: root,
      env: { ...process.env, HOOKLINE_SECRET: secret, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    await vi.waitFor(() => expect(output).toContain('receiver on'), { timeout: 20_000, interval: 50 });

    const body = JSON.stringify({
      type: 'user.login',
      timestamp: new Date().toISOString(),
      data: { email: 'a@b.c' },
    });
    const id = '01a21089-dfcb-74a4-a167-d954fe51230e';
    const timestamp = Math.floor(Date.now() / 1_000);
    const headers = {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhook({ id, timestamp, body, secrets: [secret] }),
    };
    const url = `http://127.0.0.1:${port}/webhooks`;
    const first = await fetch(url, { method: 'POST', headers, body });
    expect(first.status).toBe(204);
    const replay = await fetch(url, { method: 'POST', headers, body });
    expect(replay.status).toBe(200);
    expect(await replay.text()).toMatch(/duplicate/);
    const forged = await fetch(url, { method: 'POST', headers, body: body.replace('a@b.c', 'evil@b.c') });
    expect(forged.status).toBe(400);
    expect(output).toContain('user.login');
  });
});
