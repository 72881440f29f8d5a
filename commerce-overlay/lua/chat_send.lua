-- A viewer's chat message, after the overlay's own checks (length, rate,
-- blocked terms, review hook): the checks every overlay must agree on (ban,
-- mute, slow mode) and then either publish or hold it, in one step.
-- KEYS: 1 chat stream, 2 recent, 3 msgs, 4 pinned, 5 settings, 6 terms, 7 muted,
--       8 banned, 9 questions, 10 held, 11 modlog, 12 this viewer's slow-mode key
-- ARGV: 1 viewer, 2 message id, 3 message json, 4 now ms, 5 question 0/1,
--       6 hold 0/1, 7 hold reason, 8 stream MAXLEN, 9 history size, 10 modlog MAXLEN,
--       11 cap of held messages and of open questions, 12 name
-- -> {"sent", entry id} | {"held", ""} | {"banned", ""} | {"muted", ms left} |
--    {"slow", ms left} | {"full", what}
local viewer, id, json, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('HEXISTS', KEYS[8], viewer) == 1 then return {'banned', ''} end
local until_ms = tonumber(redis.call('HGET', KEYS[7], viewer) or '0')
if until_ms > now then return {'muted', tostring(until_ms - now)} end
local slow = tonumber(redis.call('HGET', KEYS[5], 'slow_ms') or '0')
if slow > 0 then
  if not redis.call('SET', KEYS[12], '1', 'PX', slow, 'NX') then
    return {'slow', tostring(math.max(redis.call('PTTL', KEYS[12]), 1))}
  end
end
local cap = tonumber(ARGV[11])
local hold, reason = ARGV[6] == '1', ARGV[7]
if redis.call('HGET', KEYS[5], 'hold_all') == '1' and not hold then
  hold, reason = true, 'hold-all mode'
end
if hold then
  if redis.call('HLEN', KEYS[10]) >= cap then return {'full', 'held'} end
  redis.call('HSET', KEYS[10], id, reason .. '\n' .. json)
  redis.call('XADD', KEYS[11], 'MAXLEN', '~', ARGV[10], '*', 'ts', ARGV[4], 'who', 'auto', 'scope', 'auto',
    'action', 'hold', 'target', id, 'viewer', viewer, 'name', ARGV[12], 'reason', reason, 'text', json)
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[8], '*', 'op', 'held', 'id', id)
  return {'held', ''}
end
if ARGV[5] == '1' then
  if redis.call('HLEN', KEYS[9]) >= cap then return {'full', 'questions'} end
  redis.call('HSET', KEYS[9], id, json)
end
redis.call('HSET', KEYS[3], id, json)
redis.call('LPUSH', KEYS[2], id)
local n = tonumber(ARGV[9])
while redis.call('LLEN', KEYS[2]) > n do
  local old = redis.call('RPOP', KEYS[2])
  redis.call('HDEL', KEYS[3], old)
end
local e = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[8], '*', 'op', 'msg', 'id', id, 'json', json)
return {'sent', e}
