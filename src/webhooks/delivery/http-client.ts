import { Agent, buildConnector, type Dispatcher } from 'undici';
import { storableText, storableTextOf } from '../../db/text.js';
import { type CidrList, checkLiteralHost, guardedLookup, SsrfBlockedError } from './ssrf.js';

export type AttemptErrorKind =
  | 'timeout'
  | 'dns'
  | 'connect'
  | 'tls'
  | 'ssrf_blocked'
  | 'connection_reset'
  | 'network';

export type SendOutcome =
  | {
      kind: 'response';
      status: number;
      durationMs: number;
      excerpt: string;
      bytesRead: number;
      truncated: boolean;
      retryAfterSeconds: number | undefined;
    }
  | { kind: 'error'; errorKind: AttemptErrorKind; message: string; durationMs: number };

export interface WebhookHttpOptions {
  allowedCidrs: CidrList;
  connectionsPerOrigin: number;
  timeoutMs: number;
  /** Opening the connection (TCP and TLS) must take no longer: a black-holed host fails fast. */
  connectTimeoutMs: number;
  maxResponseBytes: number;
  excerptBytes: number;
}

/**
 * The HTTP side of delivery: one pooled keep-alive undici Agent per process (up to
 * `connectionsPerOrigin` sockets per receiver origin), the SSRF guard in its connector (on the
 * address actually dialled), no redirects followed, an overall timeout, and at most
 * `maxResponseBytes` of the answer read (the first `excerptBytes` kept), so a huge answer costs no
 * more memory than the cap.
 */
export class WebhookHttpClient {
  private readonly agent: Agent;

  constructor(private readonly options: WebhookHttpOptions) {
    const connect = buildConnector({
      lookup: guardedLookup(options.allowedCidrs),
      timeout: Math.min(options.connectTimeoutMs, options.timeoutMs),
    } as never);
    const guardedConnect: buildConnector.connector = (connectOptions, callback) => {
      const decision = checkLiteralHost(connectOptions.hostname, options.allowedCidrs);
      if (decision && !decision.allowed) {
        callback(new SsrfBlockedError(connectOptions.hostname, decision.reason), null);
        return;
      }
      connect(connectOptions, callback);
    };
    this.agent = new Agent({
      connect: guardedConnect,
      connections: options.connectionsPerOrigin,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 120_000,
    });
  }

  async post(url: string, headers: Record<string, string>, body: string): Promise<SendOutcome> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const target = new URL(url);
    let response: Dispatcher.ResponseData;
    try {
      response = await this.agent.request({
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method: 'POST',
        headers,
        body,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      return { kind: 'error', ...classify(error), durationMs: elapsed() };
    }
    let bytesRead = 0;
    let truncated = false;
    const kept: Buffer[] = [];
    let keptBytes = 0;
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        bytesRead += chunk.length;
        if (keptBytes < this.options.excerptBytes) {
          const part = chunk.subarray(0, this.options.excerptBytes - keptBytes);
          kept.push(part);
          keptBytes += part.length;
        }
        if (bytesRead >= this.options.maxResponseBytes) {
          truncated = true;
          break; // leaving the loop destroys the stream: nothing more is read
        }
      }
    } catch {
      // A body that breaks off or times out after the status arrived: the status still decides.
      truncated = true;
    }
    if (truncated) response.body.destroy();
    return {
      kind: 'response',
      status: response.statusCode,
      durationMs: elapsed(),
      // The receiver's bytes, as text the database can store (NUL and invalid UTF-8 become U+FFFD).
      excerpt: storableTextOf(Buffer.concat(kept)),
      bytesRead,
      truncated,
      retryAfterSeconds: parseRetryAfter(response.headers['retry-after']),
    };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

export function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim());
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1_000));
}

function classify(error: unknown): { errorKind: AttemptErrorKind; message: string } {
  const chain: { code?: string; name?: string; message?: string }[] = [];
  let current = error as { code?: string; name?: string; message?: string; cause?: unknown } | undefined;
  for (let depth = 0; current && depth < 5; depth++) {
    chain.push(current);
    current = current.cause as typeof current;
  }
  // (a message may quote what the receiver sent: storable text only)
  const message = storableText((chain[0]?.message ?? String(error)).slice(0, 500));
  const has = (test: (item: { code?: string; name?: string }) => boolean) => chain.some(test);
  if (has((e) => e.code === 'SSRF_BLOCKED' || e instanceof SsrfBlockedError))
    return { errorKind: 'ssrf_blocked', message };
  if (has((e) => e.name === 'TimeoutError' || e.name === 'AbortError' || /TIMEOUT/.test(e.code ?? ''))) {
    return { errorKind: 'timeout', message };
  }
  if (has((e) => e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' || e.code === 'EAI_NONAME'))
    return { errorKind: 'dns', message };
  if (has((e) => /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED)/.test(e.code ?? '')))
    return { errorKind: 'tls', message };
  if (has((e) => ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'].includes(e.code ?? ''))) {
    return { errorKind: 'connect', message };
  }
  if (has((e) => ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'].includes(e.code ?? ''))) {
    return { errorKind: 'connection_reset', message };
  }
  return { errorKind: 'network', message };
}
