import dns from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The SSRF guard of webhook delivery. The decision is made on the address actually dialled, after DNS
 * resolution and at connect time (see `guardedLookup` and the connector in http-client.ts), so a
 * hostname that resolves to a public address when checked and a private one when dialled (DNS
 * rebinding) is still refused.
 *
 * Refused unless an allowed CIDR covers them: loopback, private, link-local (169.254.169.254 included),
 * carrier-grade NAT, unspecified, broadcast, multicast, reserved and documentation ranges (every
 * special range ipaddr.js names), IPv6 unique-local and link-local, the IPv4-mapped, NAT64
 * (64:ff9b::/96) and 6to4 forms of any IPv4 address that is itself refused, and every other IPv6
 * address outside the global unicast space 2000::/3: the deprecated IPv4-compatible forms (::/96,
 * `[::127.0.0.1]`, `[::2]`), the rest of ::/8, the local-use NAT64 prefix 64:ff9b:1::/48 (whose
 * translation is the local network's own) and unassigned space.
 */

export class SsrfBlockedError extends Error {
  readonly code = 'SSRF_BLOCKED';
  constructor(
    readonly address: string,
    readonly reason: string,
  ) {
    super(`refused to connect to ${address} (${reason})`);
    this.name = 'SsrfBlockedError';
  }
}

export type AddressDecision = { allowed: true } | { allowed: false; reason: string };

export type CidrList = readonly [ipaddr.IPv4 | ipaddr.IPv6, number][];

export function parseCidrs(list: string): CidrList {
  return list
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => ipaddr.parseCIDR(entry));
}

const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96');
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');
const GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3');

function embeddedIpv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const range = address.range();
  if (range === 'ipv4Mapped') return address.toIPv4Address();
  const bytes = address.toByteArray();
  // NAT64 well-known prefix 64:ff9b::/96: the last 32 bits are the IPv4 address. (The local-use
  // prefix 64:ff9b:1::/48 is not read: where the IPv4 address sits in it is the network's choice.)
  if (address.match(NAT64_WELL_KNOWN)) return new ipaddr.IPv4(bytes.slice(12, 16));
  // 6to4 2002::/16: bits 16-47 are the IPv4 address.
  if (range === '6to4') return new ipaddr.IPv4(bytes.slice(2, 6));
  return undefined;
}

function inAllowList(address: ipaddr.IPv4 | ipaddr.IPv6, allowed: CidrList): boolean {
  return allowed.some(([network, bits]) => address.kind() === network.kind() && address.match(network, bits));
}

/**
 * An IPv6 text whose last 32 bits are written as dotted IPv4 (`::ffff:1.2.3.4`, `::1.2.3.4`), with
 * them as two hex groups instead: ipaddr.js reads `::1.2.3.4` as `::ffff:1.2.3.4`, which is not the
 * address a socket dials (`::102:304`).
 */
function withHexTail(text: string): string {
  const match = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!match) return text;
  const [a, b, c, d] = match.slice(2).map(Number) as [number, number, number, number];
  if ([a, b, c, d].some((octet) => octet > 255)) return text;
  return `${match[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

/** Whether a webhook may be sent to this IP address. Pure: it never touches the network. */
export function checkAddress(text: string, allowed: CidrList = []): AddressDecision {
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.parse(withHexTail(text.replace(/^\[|\]$/g, '').split('%')[0] ?? ''));
  } catch {
    return { allowed: false, reason: 'not an IP address' };
  }
  if (inAllowList(address, allowed)) return { allowed: true };
  if (address.kind() === 'ipv6') {
    const embedded = embeddedIpv4(address as ipaddr.IPv6);
    if (embedded) {
      if (inAllowList(embedded, allowed)) return { allowed: true };
      const inner = embedded.range();
      return inner === 'unicast'
        ? { allowed: true }
        : { allowed: false, reason: `${(address as ipaddr.IPv6).range()} form of a ${inner} IPv4 address` };
    }
  }
  const range = address.range();
  if (range !== 'unicast') return { allowed: false, reason: `${range} address` };
  if (address.kind() === 'ipv6' && !address.match(GLOBAL_UNICAST)) {
    return address.match(IPV4_COMPATIBLE)
      ? { allowed: false, reason: 'ipv4Compatible address (deprecated, RFC 4291)' }
      : { allowed: false, reason: 'address outside the IPv6 global unicast space (2000::/3)' };
  }
  return { allowed: true };
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for net/tls connect: resolves like dns.lookup, then refuses if any resolved address is
 * not allowed. Node calls it right before dialling, with the address it is about to dial.
 */
export function guardedLookup(allowed: CidrList) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, options.all ? [] : '', undefined);
      for (const { address } of addresses) {
        const decision = checkAddress(address, allowed);
        if (!decision.allowed)
          return callback(new SsrfBlockedError(address, decision.reason), options.all ? [] : '');
      }
      if (options.all) return callback(null, addresses);
      const [first] = addresses;
      if (!first)
        return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
      return callback(null, first.address, first.family);
    });
  };
}

/** For a URL whose host is an IP literal (no lookup happens): the same decision, before dialling. */
export function checkLiteralHost(hostname: string, allowed: CidrList): AddressDecision | undefined {
  const bare = hostname.replace(/^\[|\]$/g, '');
  return net.isIP(bare) ? checkAddress(bare, allowed) : undefined;
}
