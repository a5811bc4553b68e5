import { describe, expect, it } from 'vitest';
import {
  checkAddress,
  checkLiteralHost,
  guardedLookup,
  parseCidrs,
  SsrfBlockedError,
} from '../../src/webhooks/ssrf.js';

// Decisions only: nothing here opens a connection.
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
