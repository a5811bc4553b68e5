// Lua fragments shared by the flow-control scripts (./scripts.ts): each defines local functions over
// the subscription's keys, in the order scripts.ts documents.

/** Shared: parks a job (once), and takes the line's head as {id, where} (see key 6). */
export const line = `
local function park_job(jobId, where)
  if redis.call('HSETNX', KEYS[6], jobId, where) == 1 then redis.call('RPUSH', KEYS[3], jobId) end
end
local function pop_job(out)
  local id = redis.call('LPOP', KEYS[3])
  if not id then return nil end
  local where = redis.call('HGET', KEYS[6], id) or '0'
  redis.call('HDEL', KEYS[6], id)
  redis.call('ZADD', KEYS[7], tonumber(ARGV[1]), id .. '|' .. where)
  out[#out + 1] = id; out[#out + 1] = where
  return id
end
`;

/**
 * Shared: how many of a subscription's jobs may be admitted at once (waiting in the ready queue or in
 * flight): the window, plus as many again as it has free slots. A subscription with free slots keeps
 * the workers fed (a worker finishing one job finds the next already waiting), and one at its limit
 * gets nothing into the queue that could not start (which would be deferred and parked again).
 */
export const capacity = `
local function cap_of(window)
  local leased = math.min(redis.call('ZCARD', KEYS[1]), window)
  return 2 * window - leased
end
`;

/** Shared by the scripts: the breaker's gate. Returns nil when closed (or a probe may go now). */
export const breakerGate = `
local function breaker_gate(now, jobId)
  local state = redis.call('HGET', KEYS[4], 'state')
  if state ~= 'open' and state ~= 'half_open' then return nil end
  local nextProbe = tonumber(redis.call('HGET', KEYS[4], 'next_probe_at') or '0')
  local probe = redis.call('HGET', KEYS[4], 'probe')
  local probeInFlight = probe and probe ~= '' and redis.call('ZSCORE', KEYS[1], probe)
  if now >= nextProbe and not probeInFlight then return nil end
  -- One job waits for the probe time; the others park until the breaker closes.
  if not probeInFlight and redis.call('HGET', KEYS[4], 'waiter') ~= tostring(nextProbe) then
    redis.call('HSET', KEYS[4], 'waiter', tostring(nextProbe))
    return {'breaker', nextProbe, 0}
  end
  return {'breaker', nextProbe, 1}
end
`;

/** Shared: admits parked jobs while the window has room and the breaker is closed; appends them. */
export const promoteParked = `${capacity}
local function promote_parked(now, window, ttl, out)
  local state = redis.call('HGET', KEYS[4], 'state') or 'closed'
  if state ~= 'closed' then return end
  local room = cap_of(window) - redis.call('ZCARD', KEYS[2])
  -- A long line is let in by chunks of an eighth of the window (at least one): a backlog reaches
  -- BullMQ, and the workers, many jobs at a time rather than one per release. Never a stall: with
  -- nothing admitted, the room is twice the window.
  local chunk = math.max(1, math.floor(window / 8))
  if room <= 0 or (room < chunk and redis.call('LLEN', KEYS[3]) >= chunk) then return end
  for _ = 1, room do
    local id = pop_job(out)
    if not id then break end
    redis.call('ZADD', KEYS[2], now + ttl, id)
  end
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ttl) end
end
`;
