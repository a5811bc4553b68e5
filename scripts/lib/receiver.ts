// A real webhook receiver on loopback, shared by the tests (test/helpers/receiver.ts), the bench's
// receiver process (scripts/bench-receiver.ts) and the demo: it reads each request whole and answers
// as its behaviour says (a status, later, never, or a huge streamed body).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  /** When its body had arrived (ms since the epoch). */
  at: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Answer =
  | { status: number; headers?: Record<string, string>; body?: string | Buffer; delayMs?: number }
  | { never: true }
  | { stream: number; status?: number };

export type Behaviour = (request: ReceivedRequest, index: number) => Answer;

/**
 * Starts a receiver. Unless `keepRequests` is false (a bench's receiver, which keeps figures
 * instead), every request is kept in `requests`.
 */
export async function listen(
  behaviour: Behaviour = () => ({ status: 200 }),
  options: { host?: string; port?: number; keepRequests?: boolean; keepAliveTimeoutMs?: number } = {},
) {
  const requests: ReceivedRequest[] = [];
  let answer = behaviour;
  let count = 0;
  const streams = { bytesWritten: 0, open: 0 };
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = {
        at: Date.now(),
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      if (options.keepRequests !== false) requests.push(request);
      reply(res, answer(request, count++), hanging, streams);
    });
  });
  if (options.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = options.keepAliveTimeoutMs;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve));
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}/hooks`,
    port,
    requests,
    bytesWritten: () => streams.bytesWritten,
    /** Streamed answers whose connection is still open (the client has not hung up yet). */
    streamsOpen: () => streams.open,
    setBehaviour(next: Behaviour) {
      answer = next;
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function reply(
  res: http.ServerResponse,
  answer: Answer,
  hanging: Set<http.ServerResponse>,
  streams: { bytesWritten: number; open: number },
): void {
  if ('never' in answer) {
    hanging.add(res); // unanswered until the client gives up (or the receiver closes)
    return;
  }
  if ('stream' in answer) {
    res.writeHead(answer.status ?? 200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(64 * 1024, 120);
    let left = answer.stream;
    streams.open += 1;
    const pump = () => {
      while (left > 0) {
        left -= chunk.length;
        streams.bytesWritten += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    res.on('close', () => {
      left = 0;
      streams.open -= 1;
    });
    pump();
    return;
  }
  const send = () => {
    res.writeHead(answer.status, answer.headers ?? {});
    res.end(answer.body ?? '');
  };
  if (!answer.delayMs) {
    send();
    return;
  }
  hanging.add(res);
  const timer = setTimeout(() => {
    hanging.delete(res);
    send();
  }, answer.delayMs);
  res.on('close', () => clearTimeout(timer));
}
