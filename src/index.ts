/**
 * What hookline offers to services that receive its webhooks: verify a delivery's Standard Webhooks
 * signature (and its timestamp's freshness) with the subscription's secret.
 *
 *   import { verifyWebhook } from 'hookline';
 *   const event = verifyWebhook(rawBody, request.headers, process.env.HOOKLINE_SECRET);
 */
export { signWebhook, verifyWebhook, WebhookVerificationError } from './webhooks/delivery/signing.js';
