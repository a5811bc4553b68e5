import { describe, expect, it } from 'vitest';
import { auditRow, truncateIp } from '../../src/audit/rows.js';
import { buildEvent } from '../../src/events/envelope.js';

const userId = '01a21075-9e1d-776d-8b43-076a77078408';
const event = buildEvent({
  type: 'user.login',
  userId,
  actor: { type: 'user', id: userId },
  meta: { ip: '203.0.113.77', userAgent: 'curl/8', requestId: 'req-9' },
  data: { session_id: userId, email: 'ada@example.com' },
  occurredAt: new Date('2026-03-04T05:06:07.089Z'),
});

describe('audit rows', () => {
  it('keep typed columns for what is queried and the data as JSON text', () => {
    const row = auditRow(event, { truncateIp: false });
    expect(row).toMatchObject({
      event_id: event.id,
      type: 'user.login',
      occurred_at: '2026-03-04 05:06:07',
      occurred_ms: Date.parse('2026-03-04T05:06:07.089Z'),
      user_id: userId,
      actor_type: 'user',
      actor_id: userId,
      email: 'ada@example.com',
      ip: '203.0.113.77',
      user_agent: 'curl/8',
      request_id: 'req-9',
    });
    expect(JSON.parse(row.data)).toEqual(event.data);
  });

  it('truncate IP addresses when configured: IPv4 to /24, IPv6 to /48', () => {
    expect(auditRow(event, { truncateIp: true }).ip).toBe('203.0.113.0');
    expect(truncateIp('2001:db8:1234:5678::1')).toBe('2001:db8:1234::');
    expect(truncateIp('2001:db8::1')).toBe('2001:db8::');
  });
});
