-- Opens or closes an active poll.
--   KEYS[1] cc:{stream:NAME}:cues  KEYS[2] cc:{stream:NAME}:active  KEYS[3] cc:{stream:NAME}:polls
--   ARGV[1] cue id, ARGV[2] 1 open / 0 close, ARGV[3] stream MAXLEN
-- Returns {counts "3,1,0", entry id}; error 'NOTFOUND' / 'NOTPOLL'.
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return redis.error_reply('NOTFOUND no active cue ' .. ARGV[1]) end
local n = tonumber(redis.call('HGET', KEYS[3], ARGV[1] .. ':n'))
if not n then return redis.error_reply('NOTPOLL cue ' .. ARGV[1] .. ' is not a poll') end
redis.call('HSET', KEYS[3], ARGV[1] .. ':open', ARGV[2])
local c = {}
for i = 0, n - 1 do c[#c + 1] = redis.call('HGET', KEYS[3], ARGV[1] .. ':' .. i) or '0' end
local counts = table.concat(c, ',')
local e = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'op', 'poll', 'id', ARGV[1], 'open', ARGV[2],
  'counts', counts)
return {counts, e}
