/** A required JSON request body, for `createRoute({ request: { body } })`. */
export const jsonBody = <T>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });

/** A JSON response entry, for `createRoute({ responses })`. */
export const jsonResponse = <T>(description: string, schema: T) => ({
  description,
  content: { 'application/json': { schema } },
});
