-- Seed the two built-in roles; more can be added as rows.
INSERT INTO "roles" ("name", "description") VALUES
  ('user', 'A registered user: manages their own profile and sessions.'),
  ('admin', 'An administrator: manages users, roles, API keys and webhooks.')
ON CONFLICT ("name") DO NOTHING;
