import { withFieldPrefix } from '../errors.js';

/** A required JSON request body, for `createRoute({ request: { body } })`. */
export const jsonBody = <T>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });

/** A JSON response entry, for `createRoute({ responses })`. */
export const jsonResponse = <T>(description: string, schema: T) => ({
  description,
  content: { 'application/json': { schema } },
});

/**
 * Runs a domain verb whose input is the request body: its validation errors name their fields as
 * they came (`body.url`), the verb having named them as its input does (`url`).
 */
export async function inBody<T>(verb: () => Promise<T>): Promise<T> {
  try {
    return await verb();
  } catch (error) {
    throw withFieldPrefix(error, 'body');
  }
}
