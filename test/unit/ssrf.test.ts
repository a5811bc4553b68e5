import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import {
  checkAddress,
  checkLiteralHost,
  guardedLookup,
  parseCidrs,
  SsrfBlockedError,
} from '../../src/webhooks/delivery/ssrf.js';

// Decisions only: nothing here opens a connection.

/**
 * One address in each range ipaddr.js names (`range()`), and whether a webhook may go there. The test
 * below fails when ipaddr.js names a range this table does not decide on.
 */
const ipv4Ranges: Record<string, [address: string, allowed: boolean]> = {
  unicast: ['8.8.8.8', true],
  unspecified: ['0.0.0.0', false],
  broadcast: ['255.255.255.255', false],
  multicast: ['224.0.0.1', false],
  linkLocal: ['169.254.169.254', false],
  loopback: ['127.0.0.1', false],
  carrierGradeNat: ['100.64.0.1', false],
  private: ['10.1.2.3', false],
  reserved: ['192.0.2.1', false],
  as112: ['192.175.48.1', false],
  amt: ['192.52.193.1', false],
};
const ipv6Ranges: Record<string, [address: string, allowed: boolean]> = {
  unicast: ['2606:4700:4700::1111', true],
  unspecified: ['::', false],
  linkLocal: ['fe80::1', false],
  multicast: ['ff02::1', false],
  loopback: ['::1', false],
  uniqueLocal: ['fd12:3456::1', false],
  ipv4Mapped: ['::ffff:a9fe:a9fe', false],
  deprecatedSiteLocal: ['fec0::1', false],
  discard: ['100::1', false],
  rfc6145: ['::ffff:0:a00:1', false],
  rfc6052: ['64:ff9b::7f00:1', false],
  '6to4': ['2002:a00:1::1', false],
  teredo: ['2001::1', false],
  benchmarking: ['2001:2::1', false],
  amt: ['2001:3::1', false],
  as112v6: ['2001:4:112::1', false],
  deprecatedOrchid: ['2001:10::1', false],
  orchid2: ['2001:20::1', false],
  droneRemoteIdProtocolEntityTags: ['2001:30::1', false],
  segmentRouting: ['5f00::1', false],
  reserved: ['2001:db8::1', false],
};
describe('the SSRF guard', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'ipv4Mapped'],
    ['::ffff:169.254.169.254', 'ipv4Mapped'],
    ['64:ff9b::a00:1', 'rfc6052'],
    ['2002:a9fe:a9fe::1', '6to4'],
    ['[::1]', 'loopback'],
    ['fe80::1%eth0', 'linkLocal'],
  ])('refuses %s', (address, range) => {
    const decision = checkAddress(address);
    expect(decision.allowed).toBe(false);
    expect(decision.allowed === false && decision.reason).toContain(range);
  });

  it.each(['8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])(
    'lets public %s through',
    (address) => {
      expect(checkAddress(address)).toEqual({ allowed: true });
    },
  );

  it('has a decision for every range ipaddr.js names, tested on an address of that range', () => {
    const named = (kind: { prototype: unknown }) => [
      'unicast',
      ...Object.keys((kind.prototype as { SpecialRanges: Record<string, unknown> }).SpecialRanges),
    ];
    expect(Object.keys(ipv4Ranges).sort()).toEqual(named(ipaddr.IPv4).sort());
    expect(Object.keys(ipv6Ranges).sort()).toEqual(named(ipaddr.IPv6).sort());
    for (const [range, [address]] of [...Object.entries(ipv4Ranges), ...Object.entries(ipv6Ranges)])
      expect(ipaddr.parse(address).range(), address).toBe(range);
  });

  it.each([...Object.entries(ipv4Ranges), ...Object.entries(ipv6Ranges)])(
    'decides on the %s range as planned',
    (range, [address, allowed]) => {
      const decision = checkAddress(address);
      expect(decision.allowed).toBe(allowed);
      if (!allowed) expect(decision.allowed === false && decision.reason).toContain(range);
    },
  );

  it.each([
    ['::127.0.0.1', 'ipv4Compatible'],
    ['[::127.0.0.1]', 'ipv4Compatible'],
    ['::7f00:1', 'ipv4Compatible'],
    ['::10.0.0.1', 'ipv4Compatible'],
    ['::169.254.169.254', 'ipv4Compatible'],
    ['::2', 'ipv4Compatible'],
    ['::8.8.8.8', 'ipv4Compatible'],
    ['1::1', 'global unicast'],
    ['4000::1', 'global unicast'],
    ['e000::1', 'global unicast'],
    ['64:ff9b:1::808:808', 'rfc6052'],
  ])('refuses %s, an IPv6 address outside the global unicast space 2000::/3 (%s)', (address, reason) => {
    const decision = checkAddress(address);
    expect(decision.allowed).toBe(false);
    expect(decision.allowed === false && decision.reason).toContain(reason);
  });

  it('refuses the deprecated IPv4-compatible literals a URL can name, even with 127.0.0.0/8 allowed', () => {
    const allowed = parseCidrs('127.0.0.0/8');
    for (const host of ['[::127.0.0.1]', '[::10.0.0.1]', '[::169.254.169.254]', '[::2]']) {
      const { hostname } = new URL(`http://${host}:8080/hooks`);
      expect(checkLiteralHost(hostname, allowed)?.allowed, host).toBe(false);
    }
  });

  it('lets through what the allow-list covers, and only that', () => {
    const allowed = parseCidrs('127.0.0.0/8, fd00::/8');
    expect(checkAddress('127.0.0.1', allowed)).toEqual({ allowed: true });
    expect(checkAddress('127.1.2.3', allowed)).toEqual({ allowed: true });
    expect(checkAddress('fd00::5', allowed)).toEqual({ allowed: true });
    expect(checkAddress('::ffff:127.0.0.1', allowed)).toEqual({ allowed: true });
    expect(checkAddress('::1', allowed).allowed).toBe(false);
    expect(checkAddress('10.0.0.1', allowed).allowed).toBe(false);
  });

  it('checks IP-literal hosts before dialling, and leaves names to the lookup', () => {
    expect(checkLiteralHost('[::1]', [])?.allowed).toBe(false);
    expect(checkLiteralHost('169.254.169.254', [])?.allowed).toBe(false);
    expect(checkLiteralHost('example.com', [])).toBeUndefined();
  });

  it('refuses a name whose resolved address is refused, in the lookup that connect uses', async () => {
    const lookup = guardedLookup([]);
    const error = await new Promise<unknown>((resolve) =>
      lookup('localhost', { all: true }, (err) => resolve(err)),
    );
    expect(error).toBeInstanceOf(SsrfBlockedError);
    const allowed = guardedLookup(parseCidrs('127.0.0.0/8'));
    const address = await new Promise<unknown>((resolve) =>
      allowed('localhost', {}, (err, addr) => resolve(err ?? addr)),
    );
    expect(address).toBe('127.0.0.1');
  });
});
