/**
 * A long-running part of a process (the API server, the outbox relay, a consumer, a worker pool).
 * `stop()` stops taking new work and finishes or hands back what is in flight before it resolves.
 */
export interface Component {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}
