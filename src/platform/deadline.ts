/** A call that did not settle within its deadline. */
export class DeadlineError extends Error {}

/**
 * The promise, or a DeadlineError if it has not settled within `ms` (the promise itself runs on:
 * whatever it settles to later is ignored). `what` names the call in the error's message.
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what?: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    const message = `${what ? `${what}: ` : ''}no answer within ${ms} ms`;
    timer = setTimeout(() => reject(new DeadlineError(message)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
