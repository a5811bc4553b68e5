/**
 * The Redis side of per-subscription flow control, as Lua scripts so that every decision is atomic
 * across all delivery processes. Every key of one subscription shares the hash tag `{<id>}`, so a
 * script touches one slot (Redis Cluster ready). Keys, in this order for every script:
 *
 * 1. `leases` (ZSET): attempts in flight, member = job id, score = when the lease expires (ms).
 * 2. `admitted` (ZSET): jobs let into the ready queue, member = job id, score = expiry (ms).
 * 3. `parked` (LIST): job ids waiting for a slot or for the breaker, in order.
 * 4. `breaker` (HASH): state (closed | open | half_open), failures, opened_at, next_probe_at,
 *    cooldown_ms, probe (the job id of the probe), waiter (the probe time a job already waits for).
 * 5. `rate` (HASH): tat, the theoretical arrival time of GCRA (a token bucket in one number), and
 *    `r:<job id>`: a slot reserved for a job deferred by the rate.
 * 6. `parked-jobs` (HASH): the ids in `parked` (so that a job enqueued twice is parked once), each
 *    with where its job is: `0` delayed in BullMQ (deferred by a worker, with a fallback time), or the
 *    time (ms) it was parked at enqueue, when it is not in BullMQ at all until it is promoted.
 * 7. `promoting` (ZSET): jobs taken from the line and not yet promoted, member `<id>|<where>` (key
 *    6), score = when; removed once their job is added or promoted (`confirm`). A process that dies in
 *    between leaves them here, and the pump hands them over again: never lost, nor left to wait for
 *    its fallback time.
 *
 * See docs/adr/0009-endpoint-isolation.md for the model.
 */

import { breakerGate, capacity, line, promoteParked } from './lua.js';

/**
 * admit(now, admitTtlMs, window, jobId...) at enqueue: each job is admitted to the ready queue while
 * fewer than the window's capacity are (`cap_of`), nothing is parked before it and the breaker is
 * closed; otherwise it is parked here and now, without a BullMQ job (one job per probe time waits
 * for the probe instead).
 * Returns per job: 0 admitted (add it), 1 parked (add nothing), or the probe time (ms) to add it
 * delayed to.
 */
export const admitScript = `${line}${breakerGate}${capacity}
local now, ttl, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local cap = cap_of(window)
local out = {}
-- The breaker's gate once for the batch: nothing in the loop changes it but the waiter, which only
-- the batch's first job can become (every later one would park).
local gate = breaker_gate(now, ARGV[4])
local parkedAt = tostring(now)
for i = 4, #ARGV do
  local jobId = ARGV[i]
  if gate and i == 4 and gate[3] == 0 then
    out[#out + 1] = gate[2]
  elseif gate then
    park_job(jobId, parkedAt); out[#out + 1] = 1
  elseif redis.call('ZSCORE', KEYS[2], jobId) then
    out[#out + 1] = 0
  elseif redis.call('LLEN', KEYS[3]) == 0 and redis.call('ZCARD', KEYS[2]) < cap then
    redis.call('ZADD', KEYS[2], now + ttl, jobId); out[#out + 1] = 0
  else
    park_job(jobId, parkedAt); out[#out + 1] = 1
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ttl) end
return out
`;

/**
 * acquire(now, maxInFlight, leaseMs, intervalMs, burst, admitTtlMs, jobId...) before attempts, for
 * each job in order. Returns a triple per job: {'ok', probe, 0} with a lease taken (and the rate's
 * token), or a deferral: {'in_flight', 0, 0} (to park), {'breaker', probeAt, park} (park 1: to park;
 * 0: wait for the probe time), {'rate', at, 0} (the job's own future slot, reserved). A deferred job
 * leaves the admitted set.
 */
export const acquireScript = `${breakerGate}
local now = tonumber(ARGV[1])
local maxInFlight, leaseMs = tonumber(ARGV[2]), tonumber(ARGV[3])
local interval, burst, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local function acquire(jobId)
  local gate = breaker_gate(now, jobId)
  if gate then
    redis.call('ZREM', KEYS[2], jobId)
    redis.call('HDEL', KEYS[5], 'r:' .. jobId)
    return gate
  end
  if not redis.call('ZSCORE', KEYS[1], jobId) and redis.call('ZCARD', KEYS[1]) >= maxInFlight then
    redis.call('ZREM', KEYS[2], jobId)
    -- A slot reserved by the rate is lost when the job cannot use it: it never adds to a later second.
    redis.call('HDEL', KEYS[5], 'r:' .. jobId)
    return {'in_flight', 0, 0}
  end
  if interval > 0 then
    -- GCRA: a job whose slot is in the future gets that slot, reserved (tat moves on), and waits for it.
    local reserved = tonumber(redis.call('HGET', KEYS[5], 'r:' .. jobId) or '')
    if reserved then redis.call('HDEL', KEYS[5], 'r:' .. jobId) end
    -- A reserved slot counts only at its time (or within one interval of it); a late job queues anew.
    if not (reserved and now <= reserved + interval) then
      local tat = math.max(tonumber(redis.call('HGET', KEYS[5], 'tat') or '0'), now)
      local allowAt = tat - interval * (burst - 1)
      redis.call('HSET', KEYS[5], 'tat', tat + interval)
      redis.call('PEXPIRE', KEYS[5], math.max(60000, tat + interval - now + 60000))
      if allowAt > now then
        redis.call('HSET', KEYS[5], 'r:' .. jobId, allowAt)
        redis.call('ZREM', KEYS[2], jobId)
        return {'rate', allowAt, 0}
      end
    end
  end
  local probe = 0
  local state = redis.call('HGET', KEYS[4], 'state')
  if state == 'open' or state == 'half_open' then
    redis.call('HSET', KEYS[4], 'state', 'half_open', 'probe', jobId)
    probe = 1
  end
  redis.call('ZADD', KEYS[1], now + leaseMs, jobId)
  redis.call('ZADD', KEYS[2], now + ttl, jobId)
  -- Each set lives no longer than its last member: a deleted subscription's leave nothing behind.
  redis.call('PEXPIRE', KEYS[1], leaseMs)
  redis.call('PEXPIRE', KEYS[2], ttl)
  return {'ok', probe, 0}
end
local out = {}
for i = 7, #ARGV do
  local result = acquire(ARGV[i])
  out[#out + 1] = result[1]; out[#out + 1] = result[2]; out[#out + 1] = result[3]
end
return out
`;

const BREAKER_TTL_MS = 7 * 86_400_000;

/**
 * release(now, threshold, cooldownMs, maxCooldownMs, window, admitTtlMs, (jobId, verdict)...) after
 * attempts (verdict success | failure | neutral) or jobs that ended without one (neutral), in order:
 * frees each lease and admission and moves the breaker; then admits parked jobs while the window has
 * room and the breaker is closed. Returns per job {transition, state, failures, nextProbeAt, n, then
 * n (id, where) pairs: after 'reopened', the job to delay to the next probe}, then the batch's
 * promoted (id, where) pairs. transition is '', 'opened', 'reopened' or 'closed'.
 */
export const releaseScript = `${line}${promoteParked}
local now = tonumber(ARGV[1])
local threshold, cooldown, maxCooldown = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local window, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local out = {}
local function release(jobId, verdict)
  redis.call('ZREM', KEYS[1], jobId)
  redis.call('ZREM', KEYS[2], jobId)
  local state = redis.call('HGET', KEYS[4], 'state') or 'closed'
  local transition = ''
  if verdict == 'success' then
    -- (a breaker that never failed has no hash: a success creates none)
    local failures = redis.call('HGET', KEYS[4], 'failures')
    if failures and failures ~= '0' then redis.call('HSET', KEYS[4], 'failures', 0) end
    if state ~= 'closed' then
      redis.call('HSET', KEYS[4], 'state', 'closed', 'closed_at', now)
      redis.call('HDEL', KEYS[4], 'probe', 'waiter', 'next_probe_at', 'cooldown_ms')
      state = 'closed'; transition = 'closed'
    end
  elseif verdict == 'failure' then
    local failures = redis.call('HINCRBY', KEYS[4], 'failures', 1)
    if state == 'half_open' and redis.call('HGET', KEYS[4], 'probe') == jobId then
      local next = math.min(tonumber(redis.call('HGET', KEYS[4], 'cooldown_ms') or cooldown) * 2, maxCooldown)
      redis.call('HSET', KEYS[4], 'state', 'open', 'cooldown_ms', next, 'next_probe_at', now + next, 'probe', '')
      state = 'open'; transition = 'reopened'
    elseif state == 'closed' and failures >= threshold then
      redis.call('HSET', KEYS[4], 'state', 'open', 'opened_at', now, 'cooldown_ms', cooldown,
        'next_probe_at', now + cooldown, 'probe', '')
      state = 'open'; transition = 'opened'
    end
  elseif state == 'half_open' and redis.call('HGET', KEYS[4], 'probe') == jobId then
    -- The probe ended without telling anything of the endpoint: the next job may probe (and one
    -- parked job may wait for it: the pump hands it over if no job comes).
    redis.call('HSET', KEYS[4], 'state', 'open', 'probe', '')
    redis.call('HDEL', KEYS[4], 'waiter')
    state = 'open'
  end
  out[#out + 1] = transition
  out[#out + 1] = state
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[4], 'failures') or '0')
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[4], 'next_probe_at') or '0')
  local count = #out + 1
  out[count] = 0
  if transition == 'reopened' then
    -- Someone must try again at the next probe time: the first parked job, if any.
    if pop_job(out) then
      out[count] = 1
      redis.call('HSET', KEYS[4], 'waiter', redis.call('HGET', KEYS[4], 'next_probe_at'))
    end
  end
end
for i = 7, #ARGV, 2 do release(ARGV[i], ARGV[i + 1]) end
-- A breaker's record outlives its longest cool-down by a week, then goes (closed, its count reset):
-- a deleted subscription's does not stay for good.
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('PEXPIRE', KEYS[4], maxCooldown + ${BREAKER_TTL_MS}) end
promote_parked(now, window, ttl, out)
return out
`;

/**
 * park(now, window, admitTtlMs, jobId...): jobs a worker has just delayed in BullMQ (with a fallback
 * time) join the line; if the window has room meanwhile (a release came between the decision and
 * now), the line's head is admitted at once. Returns the (id, where) pairs to promote. Pushing only
 * once the BullMQ job is delayed means a promotion never races a job that is not delayed yet.
 */
export const parkScript = `${line}${promoteParked}
local now, window, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 4, #ARGV do park_job(ARGV[i], '0') end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local out = {}
promote_parked(now, window, ttl, out)
return out
`;

/**
 * pump(now, window, admitTtlMs, lastAllowedMs), run periodically for every subscription with a line:
 * what the releases would have done had none been lost (a process that died between a release and
 * its promotions, leases that expired). Admits the line's head while the window has room and the
 * breaker is closed; lets one job wait for a due probe no job waits for; and hands over jobs parked
 * at enqueue past their last allowed time (the worker ends them dead). Returns {length of the line,
 * (id, where)...}.
 */
export const pumpScript = `${line}${promoteParked}
local now, window, ttl, lastAllowed = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local out = {0}
-- Jobs taken from the line whose BullMQ job was never confirmed (their process died): again.
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now - 10000, 'LIMIT', 0, 1000)) do
  local bar = string.find(member, '|', 1, true)
  redis.call('ZADD', KEYS[7], now, member)
  out[#out + 1] = string.sub(member, 1, bar - 1); out[#out + 1] = string.sub(member, bar + 1)
end
for _ = 1, 1000 do
  local head = redis.call('LINDEX', KEYS[3], 0)
  if not head then break end
  local parkedAt = tonumber(redis.call('HGET', KEYS[6], head) or '0')
  if parkedAt == 0 or parkedAt + lastAllowed > now then break end
  pop_job(out)
end
promote_parked(now, window, ttl, out)
local state = redis.call('HGET', KEYS[4], 'state') or 'closed'
if state ~= 'closed' then
  local nextProbe = tonumber(redis.call('HGET', KEYS[4], 'next_probe_at') or '0')
  local probe = redis.call('HGET', KEYS[4], 'probe')
  local probeInFlight = probe and probe ~= '' and redis.call('ZSCORE', KEYS[1], probe)
  if now >= nextProbe and not probeInFlight and redis.call('HGET', KEYS[4], 'waiter') ~= tostring(nextProbe) then
    if pop_job(out) then redis.call('HSET', KEYS[4], 'waiter', tostring(nextProbe)) end
  end
end
out[1] = redis.call('LLEN', KEYS[3]) + redis.call('ZCARD', KEYS[7])
return out
`;
