#!lua
-- Sets a SKU's stock (and optionally its per-viewer limit) and bumps its
-- version.  KEYS[1] cc:{sku:S}:stock.  ARGV[1] units (>= 0), ARGV[2] limit
-- ('' = unchanged, 0 = none), ARGV[3] 'add' to add ARGV[1] (may be negative)
-- instead of setting it.  Returns {stock, version, sold, limit}.
local n = tonumber(ARGV[1])
if n == nil or n ~= math.floor(n) then return redis.error_reply('ERR stock must be an integer') end
local cur = tonumber(redis.call('HGET', KEYS[1], 'avail')) or 0
if ARGV[3] == 'add' then n = cur + n end
if n < 0 then return redis.error_reply('ERR stock would be negative (' .. n .. ')') end
local v = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'avail', n)
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'limit', ARGV[2]) end
local r = redis.call('HMGET', KEYS[1], 'sold', 'limit')
return {n, v, tonumber(r[1]) or 0, tonumber(r[2]) or -1}
