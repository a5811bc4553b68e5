// `npm run webhooks:reseal-secrets`: encrypts every webhook signing secret with the first key of
// WEBHOOK_SECRETS_KEYS, where it is still in plain text or under an older key. Safe to run while the
// platform runs, and again. Rotating keys: add the new key last in every process (all can then read
// it), then move it first (new secrets are sealed with it), run this, then drop the old key. Subscription ids as arguments limit it to those.
import { loadConfig } from '../src/config/load.js';
import { createDatabase } from '../src/db/client.js';
import { resealSecrets } from '../src/webhooks/subscriptions/reseal-secrets.js';
import { SecretBox } from '../src/webhooks/subscriptions/secret-box.js';

const config = loadConfig('all', process.env);
const secrets = new SecretBox(config.WEBHOOK_SECRETS_KEYS);
if (!secrets.encrypts) {
  console.error('WEBHOOK_SECRETS_KEYS is not set: there is no key to encrypt with.');
  process.exit(78);
}
const { sql, end } = createDatabase({
  url: config.DATABASE_URL,
  poolSize: 1,
  applicationName: 'hookline-reseal',
});
try {
  const ids = process.argv.slice(2);
  const { resealed, unreadable } = await resealSecrets({ sql, secrets }, ids.length > 0 ? { ids } : {});
  console.log(`resealed the secrets of ${resealed} subscription(s)`);
  if (unreadable.length > 0) {
    console.error(
      `${unreadable.length} subscription(s) have a secret under a key WEBHOOK_SECRETS_KEYS does not list: ${unreadable.join(', ')}`,
    );
    process.exitCode = 1;
  }
} finally {
  await end({ timeout: 5 });
}
