import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { vi } from 'vitest';

export interface ReceivedRequest {
  at: number;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Answer =
  | { status: number; headers?: Record<string, string>; body?: string | Buffer; delayMs?: number }
  | { never: true }
  | { stream: number; status?: number };

/**
 * A real webhook receiver on loopback: records every request and answers as `behaviour` says
 * (a status, a redirect, nothing at all, or a huge streamed body).
 */
export async function startReceiver(
  behaviour: (request: ReceivedRequest, index: number) => Answer = () => ({ status: 200 }),
  options: { host?: string } = {},
) {
  const requests: ReceivedRequest[] = [];
  let answer = behaviour;
  let bytesWritten = 0;
  let streaming = 0;
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = {
        at: Date.now(),
        path: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(request);
      const reply = answer(request, requests.length - 1);
      if ('never' in reply) {
        hanging.add(res);
        return;
      }
      if ('stream' in reply) {
        res.writeHead(reply.status ?? 200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024, 120);
        let left = reply.stream;
        streaming += 1;
        const pump = () => {
          while (left > 0) {
            left -= chunk.length;
            bytesWritten += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        res.on('close', () => {
          left = 0;
          streaming -= 1;
        });
        pump();
        return;
      }
      const send = () => {
        res.writeHead(reply.status, reply.headers ?? {});
        res.end(reply.body ?? '');
      };
      if (reply.delayMs) {
        hanging.add(res);
        const timer = setTimeout(() => {
          hanging.delete(res);
          send();
        }, reply.delayMs);
        res.on('close', () => clearTimeout(timer));
      } else send();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}/hooks`,
    port,
    requests,
    bytesWritten: () => bytesWritten,
    /** Streamed answers whose connection is still open (the client has not hung up yet). */
    streamsOpen: () => streaming,
    setBehaviour(next: typeof behaviour) {
      answer = next;
    },
    /** Waits until `count` requests match, and returns every matching one. */
    waitFor(count: number, timeoutMs = 20_000, match: (r: ReceivedRequest) => boolean = () => true) {
      return vi.waitFor(
        () => {
          const found = requests.filter(match);
          if (found.length < count) throw new Error(`receiver got ${found.length} of ${count} requests`);
          return found;
        },
        { timeout: timeoutMs, interval: 50 },
      );
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;
