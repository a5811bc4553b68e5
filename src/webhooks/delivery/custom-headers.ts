import type { FieldError } from '../../errors.js';

/** Headers hookline sets itself, from the URL, the body and the signature: a subscription cannot set them. */
const setByHookline = new Set(['host', 'content-length', 'content-type', 'user-agent']);

/**
 * Headers about the connection, not the message (RFC 9110 §7.6.1 and HTTP/1.1's framing): the HTTP
 * client manages them, and undici refuses most of them outright, so a delivery carrying one would fail.
 */
const connectionHeaders = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'http2-settings',
  'expect',
]);

/** An RFC 9110 token (§5.6.2): what a field name is made of. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * Characters a custom header value may hold: visible ASCII, space, tab, and the printable Latin-1
 * characters (U+00A0–U+00FF, sent as single bytes: RFC 9110's obs-text). Not the C0 and C1 control
 * characters nor DEL, not anything beyond U+00FF (undici refuses those).
 */
const VALUE_CHAR = /^[\t\x20-\x7e\xa0-\xff]*$/;

/**
 * Why a subscription's custom header could never be sent as given, or undefined if it can. The rule
 * is RFC 9110's: the name is a token (§5.6.2), the value a field value (§5.5: no control characters,
 * no leading or trailing space or tab, which receivers would strip), and neither a header about the
 * connection (hop-by-hop, `Proxy-*`, framing) nor one hookline sets itself (`Webhook-*` included).
 * It accepts nothing undici refuses to send (test/unit/webhook-headers.test.ts checks it against the
 * delivery client).
 */
export function customHeaderProblem(name: string, value: string): Omit<FieldError, 'field'> | undefined {
  if (!TOKEN.test(name))
    return { message: 'must be an HTTP header name (an RFC 9110 token)', code: 'invalid_header_name' };
  const lower = name.toLowerCase();
  if (setByHookline.has(lower) || lower.startsWith('webhook-'))
    return { message: 'is set by hookline and cannot be overridden', code: 'reserved_header' };
  if (connectionHeaders.has(lower) || lower.startsWith('proxy-'))
    return {
      message: 'is about the connection, not the message (hop-by-hop): it cannot be set',
      code: 'hop_by_hop_header',
    };
  if (!VALUE_CHAR.test(value)) {
    const beyondLatin1 = [...value].some((char) => (char.codePointAt(0) ?? 0) > 0xff);
    return beyondLatin1
      ? { message: 'must be Latin-1 text (no character beyond U+00FF)', code: 'invalid_header_value' }
      : { message: 'must not contain control characters', code: 'invalid_header_value' };
  }
  if (/^[\t ]|[\t ]$/.test(value))
    return { message: 'must not start or end with a space or tab', code: 'invalid_header_value' };
  return undefined;
}

/** The first custom header that could never be sent, as `Name: why`, or undefined when all can. */
export function unsendableHeader(headers: Record<string, string>): string | undefined {
  for (const [name, value] of Object.entries(headers)) {
    const problem = customHeaderProblem(name, value);
    if (problem) return `custom header ${name} ${problem.message}`;
  }
  return undefined;
}
