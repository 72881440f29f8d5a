#!lua
-- Moves one buy that failed too often to the dead-letter stream and tells the
-- buyer (a 'failed' event), atomically and at most once (XACK guard).
--   KEYS[1] cc:{orders}:buys  KEYS[2] cc:{orders}:dead  KEYS[3] cc:{orders}:events
--   KEYS[4] cc:{orders}:failure:ENTRY (string: the last error recorded for the entry)
--   ARGV[1] group, ARGV[2] entry, ARGV[3] deliveries, ARGV[4] consumer, ARGV[5] reason if none recorded,
--   ARGV[6] NF, then NF original field/value pairs, then NE, then NE event field/value pairs
-- Returns {acked, reason}.  Reads and type checks come before the first write.
local reason = redis.call('GET', KEYS[4]) or ARGV[5]
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('XLEN', KEYS[2]) end
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('XLEN', KEYS[3]) end
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('DEL', KEYS[4])
if acked == 0 then return {0, reason} end
local nf = tonumber(ARGV[6])
local ne = tonumber(ARGV[7 + 2 * nf])
redis.call('XADD', KEYS[2], '*', 'entry', ARGV[2], 'deliveries', ARGV[3], 'consumer', ARGV[4], 'reason', reason,
  unpack(ARGV, 7, 6 + 2 * nf))
redis.call('XADD', KEYS[3], '*', 'reason', 'dead-lettered: ' .. reason, unpack(ARGV, 8 + 2 * nf, 7 + 2 * nf + 2 * ne))
return {1, reason}
