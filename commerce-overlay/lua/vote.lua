-- Counts one vote per viewer, atomically: SADD decides, HINCRBY counts.
--   KEYS[1] cc:{stream:NAME}:polls  KEYS[2] cc:{stream:NAME}:voters:ID  KEYS[3] cc:{stream:NAME}:cues
--   ARGV[1] poll (cue) id, ARGV[2] option index, ARGV[3] viewer id, ARGV[4] stream MAXLEN
-- Returns {1 counted / 0 already voted, counts "3,1,0"}; error 'CLOSED' / 'NOTPOLL' / 'OPTION'.
local open = redis.call('HGET', KEYS[1], ARGV[1] .. ':open')
if not open then return redis.error_reply('NOTPOLL no poll ' .. ARGV[1]) end
if open ~= '1' then return redis.error_reply('CLOSED poll ' .. ARGV[1] .. ' is closed') end
local n = tonumber(redis.call('HGET', KEYS[1], ARGV[1] .. ':n'))
local o = tonumber(ARGV[2])
if o < 0 or o >= n then return redis.error_reply('OPTION the poll has ' .. n .. ' options') end
local added = redis.call('SADD', KEYS[2], ARGV[3])
if added == 1 then redis.call('HINCRBY', KEYS[1], ARGV[1] .. ':' .. o, 1) end
local c = {}
for i = 0, n - 1 do c[#c + 1] = redis.call('HGET', KEYS[1], ARGV[1] .. ':' .. i) or '0' end
local counts = table.concat(c, ',')
if added == 1 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'op', 'tally', 'id', ARGV[1], 'counts', counts)
end
return {added, counts}
