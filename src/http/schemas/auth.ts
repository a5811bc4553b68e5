import { z } from '@hono/zod-openapi';

const isTimeZone = (value: string) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: value });
    return true;
  } catch {
    return false;
  }
};

export const Email = z
  .string()
  .trim()
  .max(254)
  .pipe(z.email())
  // The pipe hides z.email()'s format from the generator (it documents the input side): say it here.
  .openapi({
    format: 'email',
    example: 'ada@example.com',
    description: 'Trimmed and lower-cased before use.',
  });

/**
 * Length and common-password rules are checked by the service, which counts Unicode code points. Text
 * PostgreSQL cannot store (NUL, unpaired surrogates) is refused for every field of every route by newApp.
 */
export const NewPassword = z.string().min(1).max(1_024).openapi({
  description: '8 to 128 characters, any Unicode, not one of the most common passwords.',
  example: 'correct horse battery staple',
});
export const Password = z.string().min(1).max(1_024);

export const Name = z.string().trim().min(1).max(100);
export const Locale = z
  .string()
  .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a BCP 47 language tag, e.g. en or pt-BR')
  .max(35);
export const TimeZone = z.string().max(64).refine(isTimeZone, 'must be an IANA time zone, e.g. Europe/Paris');

export const UserSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    name: z.string().nullable(),
    locale: z.string().nullable(),
    timezone: z.string().nullable(),
    role: z.string(),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
  })
  .openapi('User');

export const SessionSchema = z
  .object({
    id: z.uuid(),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    created_at: z.iso.datetime(),
    last_used_at: z.iso.datetime(),
    expires_at: z.iso.datetime(),
    current: z.boolean().openapi({ description: 'True for the session of the token making the request.' }),
  })
  .openapi('Session');

export const TokenPairSchema = z
  .object({
    access_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int().openapi({ description: 'Seconds until the access token expires.' }),
    refresh_token: z.string().openapi({ description: 'Single use: each refresh returns a new one.' }),
    session_id: z.uuid(),
  })
  .openapi('TokenPair');

export const RegisterBody = z
  .object({ email: Email, password: NewPassword, name: Name.optional() })
  .openapi('RegisterRequest');
export const LoginBody = z.object({ email: Email, password: Password }).openapi('LoginRequest');
export const RefreshBody = z.object({ refresh_token: z.string().min(1).max(512) }).openapi('RefreshRequest');
export const ProfileBody = z
  .object({
    name: Name.nullable().optional(),
    locale: Locale.nullable().optional(),
    timezone: TimeZone.nullable().optional(),
  })
  .strict()
  .openapi('ProfileUpdate');
export const PasswordChangeBody = z
  .object({ current_password: Password, new_password: NewPassword })
  .openapi('PasswordChange');
export const RoleBody = z.object({ role: z.string().min(1).max(64) }).openapi('RoleChange');

export const IdParam = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }) });
export const UserSessionParams = z.object({
  id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }),
  sessionId: z.uuid().openapi({ param: { name: 'sessionId', in: 'path' } }),
});
