import { describe, expect, it } from 'vitest';
import {
  type BatchLogin,
  type DetectionRules,
  type Finding,
  type SuspicionFacts,
  suspiciousFindings,
} from '../../src/audit/suspicious.js';

// The audit detector's rules, as a table: the facts fetched from the audit log for one batch, and the
// findings they make (the querying itself is covered by test/integration/audit-detector.test.ts).

const rules: DetectionRules = {
  stuffingFailures: 4,
  stuffingIps: 3,
  windowSeconds: 3_600,
  newIpAfterFailures: 3,
  newIpLookbackSeconds: 90 * 86_400,
};

const MINUTE = 60_000;
const WINDOW = rules.windowSeconds * 1_000;
/** When the batch's login happened. */
const T = Date.parse('2026-03-01T12:00:00.000Z');
const ada = { email: 'ada@example.com', userId: 'user-ada' };
const bob = { email: 'bob@example.com', userId: 'user-bob' };
const NEW_IP = '192.0.2.44';

const facts = (partial: Partial<SuspicionFacts>): SuspicionFacts => ({
  failedAccounts: [],
  logins: [],
  firstSeen: [],
  failures: [],
  ...partial,
});
const account = (who: { email: string; userId: string | null }, failures: number, ips: number) => ({
  ...who,
  failures,
  ips,
});
const login = (who = ada, ip = NEW_IP, at = T): BatchLogin => ({
  email: who.email,
  user_id: who.userId,
  ip,
  occurred_ms: at,
});
const seen = (ip: string, ms: number, who = ada) => ({ userId: who.userId, ip, ms });
/** Failed logins of `who` at these instants, from these IPs in turn. */
const failed = (times: number[], ips = ['198.51.100.1', '198.51.100.2', '198.51.100.3'], who = ada) =>
  times.map((ms, i) => ({ userId: who.userId, ip: ips[i % ips.length] ?? '', ms }));
/** Three failures within the window before the login, from three IPs. */
const threeBefore = failed([T - 50 * MINUTE, T - 40 * MINUTE, T - 30 * MINUTE]);

const stuffing = (who: { email: string; userId: string | null }, failures: number, ips: number): Finding => ({
  kind: 'credential_stuffing',
  email: who.email,
  userId: who.userId,
  evidence: { failures, ips },
});
const newIp = (failures: number, ips: number, who = ada, ip = NEW_IP): Finding => ({
  kind: 'new_ip_after_failures',
  email: who.email,
  userId: who.userId,
  evidence: { failures, ips, ip },
});

describe('suspiciousFindings', () => {
  it.each([
    // case, facts, findings
    ['nothing fetched', facts({}), []],
    // Credential stuffing: counts per account in the window before now.
    [
      'stuffing: exactly the thresholds',
      facts({ failedAccounts: [account(ada, 4, 3)] }),
      [stuffing(ada, 4, 3)],
    ],
    ['stuffing: well over', facts({ failedAccounts: [account(ada, 40, 9)] }), [stuffing(ada, 40, 9)]],
    ['stuffing: one failure short', facts({ failedAccounts: [account(ada, 3, 3)] }), []],
    ['stuffing: many failures, one IP short', facts({ failedAccounts: [account(ada, 50, 2)] }), []],
    [
      'stuffing: an unknown email (no user)',
      facts({ failedAccounts: [account({ email: 'nobody@example.com', userId: null }, 4, 3)] }),
      [stuffing({ email: 'nobody@example.com', userId: null }, 4, 3)],
    ],
    [
      'stuffing: each account on its own',
      facts({ failedAccounts: [account(ada, 4, 3), account(bob, 2, 2)] }),
      [stuffing(ada, 4, 3)],
    ],
    // A login from a new IP after failures in the window before it.
    [
      'new IP after 3 failures from 3 IPs',
      facts({ logins: [login()], failures: threeBefore }),
      [newIp(3, 3)],
    ],
    [
      'new IP after 3 failures from one IP',
      facts({
        logins: [login()],
        failures: failed([T - 3 * MINUTE, T - 2 * MINUTE, T - MINUTE], ['10.0.0.1']),
      }),
      [newIp(3, 1)],
    ],
    [
      'new IP after 2 failures only',
      facts({ logins: [login()], failures: failed([T - 20 * MINUTE, T - 10 * MINUTE]) }),
      [],
    ],
    ['new IP, no failures', facts({ logins: [login()] }), []],
    [
      'an IP the user logged in from before',
      facts({ logins: [login()], firstSeen: [seen(NEW_IP, T - 30 * 86_400_000)], failures: threeBefore }),
      [],
    ],
    [
      'an IP first seen in this very login',
      facts({ logins: [login()], firstSeen: [seen(NEW_IP, T)], failures: threeBefore }),
      [newIp(3, 3)],
    ],
    [
      'an IP first seen only after the login',
      facts({ logins: [login()], firstSeen: [seen(NEW_IP, T + MINUTE)], failures: threeBefore }),
      [newIp(3, 3)],
    ],
    [
      'another IP known, this one new',
      facts({ logins: [login()], firstSeen: [seen('203.0.113.10', T - 86_400_000)], failures: threeBefore }),
      [newIp(3, 3)],
    ],
    [
      'the IP known for another user only',
      facts({ logins: [login()], firstSeen: [seen(NEW_IP, T - 86_400_000, bob)], failures: threeBefore }),
      [newIp(3, 3)],
    ],
    [
      'a failure exactly one window before counts',
      facts({ logins: [login()], failures: failed([T - WINDOW, T - 20 * MINUTE, T - 10 * MINUTE]) }),
      [newIp(3, 3)],
    ],
    [
      'a failure one millisecond older than the window does not',
      facts({ logins: [login()], failures: failed([T - WINDOW - 1, T - 20 * MINUTE, T - 10 * MINUTE]) }),
      [],
    ],
    [
      'a failure in the same millisecond as the login does not',
      facts({ logins: [login()], failures: failed([T - 20 * MINUTE, T - 10 * MINUTE, T]) }),
      [],
    ],
    [
      'failures after the login do not',
      facts({ logins: [login()], failures: failed([T + MINUTE, T + 2 * MINUTE, T + 3 * MINUTE]) }),
      [],
    ],
    [
      'another user’s failures do not',
      facts({
        logins: [login()],
        failures: failed([T - 3 * MINUTE, T - 2 * MINUTE, T - MINUTE], undefined, bob),
      }),
      [],
    ],
    [
      'each login on its own: the known IP no, the new one yes',
      facts({
        logins: [login(ada, '203.0.113.10', T - MINUTE), login()],
        firstSeen: [seen('203.0.113.10', T - 86_400_000)],
        failures: failed([T - 50 * MINUTE, T - 40 * MINUTE, T - 30 * MINUTE, T - 30 * 1_000]),
      }),
      [newIp(4, 3)],
    ],
    [
      'each login counts the failures before it only',
      facts({
        logins: [login(ada, NEW_IP, T - 35 * MINUTE), login(ada, '192.0.2.45')],
        failures: threeBefore,
      }),
      [newIp(3, 3, ada, '192.0.2.45')],
    ],
    [
      'two users, in the order of the logins',
      facts({
        logins: [login(bob, '192.0.2.9'), login()],
        failures: [
          ...threeBefore,
          ...failed([T - 3 * MINUTE, T - 2 * MINUTE, T - MINUTE], ['10.0.0.1'], bob),
        ],
      }),
      [newIp(3, 1, bob, '192.0.2.9'), newIp(3, 3)],
    ],
    [
      'stuffing first, then new IPs',
      facts({ logins: [login()], failures: threeBefore, failedAccounts: [account(bob, 4, 3)] }),
      [stuffing(bob, 4, 3), newIp(3, 3)],
    ],
  ] as const)('%s', (_, given, expected) => {
    expect(suspiciousFindings(given, rules)).toEqual(expected);
  });

  it('reads its thresholds from the rules', () => {
    const given = facts({ failedAccounts: [account(ada, 2, 1)], logins: [login()], failures: threeBefore });
    expect(suspiciousFindings(given, { ...rules, stuffingFailures: 2, stuffingIps: 1 })).toEqual([
      stuffing(ada, 2, 1),
      newIp(3, 3),
    ]);
    expect(suspiciousFindings(given, { ...rules, newIpAfterFailures: 4 })).toEqual([]);
    expect(suspiciousFindings(given, { ...rules, newIpAfterFailures: 0 })).toEqual([newIp(3, 3)]);
    // A shorter window: only the failure 30 minutes before the login is in it.
    expect(suspiciousFindings(given, { ...rules, windowSeconds: 1_800, newIpAfterFailures: 1 })).toEqual([
      newIp(1, 1, ada),
    ]);
  });
});
