"""The Lua scripts of the Redis job store (``jobs.stores.redis``).

Every key a script touches is passed in ``KEYS`` and carries the same shard's hash tag, so each
script runs on one Redis Cluster slot. Lease expiries are the Redis server's clock (``TIME``):
the shard's ``leases`` sorted set and the scripts that read it live on one node.
"""

from __future__ import annotations

# Milliseconds on the server's clock.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: job, owner index, expiring, leases, index the job is in now (held/free; = the next one
#       when there is none), index it goes to (held/free of its kind), the shard's kinds.
# ARGV: mode (create|update), expected statuses as ",a,b," ("" = any), holder ("" = any), id,
#       created_at, ttl, expires_at ("" while active), expiring member, the holder the keys were
#       computed for ("" = none), the new holder ("" = none), kind, n, n field/value pairs, fields
#       to delete.
# Returns 1 written, 0 not (missing, exists, a condition failed), -1 the stored holder is not the
# one the keys were computed for (the caller reads it and tries again).
WRITE = """
local exists = redis.call('EXISTS', KEYS[1]) == 1
if ARGV[1] == 'create' then
  if exists then return 0 end
else
  if not exists then return 0 end
  if ARGV[2] ~= '' then
    local st = redis.call('HGET', KEYS[1], 'status')
    if not st or not string.find(ARGV[2], ',' .. st .. ',', 1, true) then return 0 end
  end
  local lo = redis.call('HGET', KEYS[1], 'lease_owner') or ''
  if ARGV[3] ~= '' and lo ~= ARGV[3] then return 0 end
  if lo ~= ARGV[9] then return -1 end
end
local n = tonumber(ARGV[12])
local set = {}
for i = 13, 12 + 2 * n do set[#set + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(set))
local del = {}
for i = 13 + 2 * n, #ARGV do del[#del + 1] = ARGV[i] end
if #del > 0 then redis.call('HDEL', KEYS[1], unpack(del)) end
if ARGV[1] == 'create' then redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4]) end
redis.call('ZREM', KEYS[5], ARGV[4])
if ARGV[7] == '' then
  redis.call('ZADD', KEYS[6], ARGV[5], ARGV[4])
  redis.call('SADD', KEYS[7], ARGV[11])
  if ARGV[10] ~= '' then redis.call('ZADD', KEYS[4], 'NX', 0, ARGV[10]) end
  redis.call('PERSIST', KEYS[1])
else
  redis.call('ZADD', KEYS[3], ARGV[7], ARGV[8])
  redis.call('EXPIRE', KEYS[1], ARGV[6])
end
return 1
"""

# KEYS: leases.  ARGV: at most this many.  The replicas whose lease has expired (or that never
# took one but hold jobs: score 0).
DEAD = (
    _NOW
    + """
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
"""
)

# KEYS: leases, the index the jobs are taken from (held by a dead replica, or free), the taker's
# index, then one job key per id.  ARGV: the dead replica ("" = free jobs), taker, kind, then the ids.
# Returns the claimed jobs (HGETALL each), now held by the taker; entries that no longer belong in
# the source index are dropped from it.
CLAIM = (
    _NOW
    + """
if ARGV[1] ~= '' then
  local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if s and tonumber(s) > now then return {} end
end
local out = {}
for i = 4, #KEYS do
  local id = ARGV[i]
  local st = redis.call('HGET', KEYS[i], 'status')
  local lo = redis.call('HGET', KEYS[i], 'lease_owner') or ''
  redis.call('ZREM', KEYS[2], id)
  if (st == 'pending' or st == 'processing') and lo == ARGV[1]
      and redis.call('HGET', KEYS[i], 'kind') == ARGV[3] then
    redis.call('HSET', KEYS[i], 'lease_owner', ARGV[2])
    redis.call('ZADD', KEYS[3], redis.call('HGET', KEYS[i], 'created_at'), id)
    out[#out + 1] = redis.call('HGETALL', KEYS[i])
  end
end
if #out > 0 then redis.call('ZADD', KEYS[1], 'NX', 0, ARGV[2]) end
return out
"""
)

# KEYS: leases.  ARGV: replica, ttl_ms.
RENEW = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
"""
)

# KEYS: job, owner index, expiring, the index the job is in.  ARGV: id, owner and holder the keys
# were computed for ("" = none).  1 deleted, 0 missing, -1 the keys are stale (read and retry).
DELETE = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return 0 end
if owner ~= ARGV[2] or (redis.call('HGET', KEYS[1], 'lease_owner') or '') ~= ARGV[3] then return -1 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1] .. '|' .. owner)
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
"""
