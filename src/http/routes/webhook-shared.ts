import { z } from '@hono/zod-openapi';
import type { AuthDeps } from '../../auth/context.js';
import { requireAdminOrScope } from '../middleware/auth.js';

/** Every webhook route: an admin, or an API key with `webhooks:manage`. */
export const guardOf = (auth: AuthDeps) => ({
  security: [{ bearer: [] }],
  middleware: [requireAdminOrScope(auth, 'webhooks:manage')],
  tags: ['webhooks'],
});
export type Guard = ReturnType<typeof guardOf>;

/** Text that PostgreSQL cannot store (NUL, unpaired surrogates) is refused for every field by newApp. */
export const text = (max: number) => z.string().max(max);

/** A page of `item`s with the cursor of the next page. */
export const page = <T extends z.ZodType>(item: T, name: string) =>
  z.object({ items: z.array(item), next_cursor: z.uuid().nullable() }).openapi(name);
