import { z } from 'zod';
import { apiEnv, auditEnv, authEnv, sharedEnv, webhookEnv } from './env.js';

/** The processes the platform can run, each with the port it listens on by default. */
export const processDefaults = {
  all: { port: 3000 },
  api: { port: 3000 },
  relay: { port: 3001 },
  fanout: { port: 3002 },
  delivery: { port: 3003 },
  audit: { port: 3004 },
} as const;

export type ProcessName = keyof typeof processDefaults;

export function configSchema(process: ProcessName) {
  return z
    .object({
      ...sharedEnv,
      ...apiEnv,
      ...authEnv,
      ...webhookEnv,
      ...auditEnv,
      PORT: sharedEnv.PORT.default(processDefaults[process].port),
    })
    .superRefine((config, ctx) => {
      if ((config.ADMIN_EMAIL === undefined) !== (config.ADMIN_PASSWORD === undefined)) {
        const missing = config.ADMIN_EMAIL === undefined ? 'ADMIN_EMAIL' : 'ADMIN_PASSWORD';
        ctx.addIssue({
          code: 'custom',
          path: [missing],
          message: 'ADMIN_EMAIL and ADMIN_PASSWORD go together',
        });
      }
    });
}

export type Config = z.infer<ReturnType<typeof configSchema>>;

export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; message: string }[]) {
    super(`invalid configuration:\n${issues.map((i) => `  ${i.variable}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment once, at boot. A bad value throws a ConfigError naming the variable. */
export function loadConfig(process: ProcessName, env: Record<string, string | undefined>): Config {
  // An empty variable counts as unset, as most shells and compose files mean it.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const result = configSchema(process).safeParse(present);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? '?'),
        message: issue.message,
      })),
    );
  }
  return result.data;
}
