-- Rate-limits a viewer's buys and appends the buy to the orders stream, in
-- one step (both keys are in the {orders} slot).
--   KEYS[1] cc:{orders}:rl:VIEWER  (counter with a TTL: a fixed window)
--   KEYS[2] cc:{orders}:buys       (the order service's stream, docs/redis-schema.md)
--   ARGV[1] buys allowed per window, ARGV[2] window (ms), then field, value pairs of the entry
-- Returns {1, entry id} appended; {0, ms until the window ends} rate-limited.
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
  return {0, ttl}
end
return {1, redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))}
