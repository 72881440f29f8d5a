-- Ends an active cue.
--   KEYS[1] cc:{stream:NAME}:cues  KEYS[2] cc:{stream:NAME}:active  KEYS[3] cc:{stream:NAME}:polls
--   KEYS[4] cc:{stream:NAME}:voters:ID
--   ARGV[1] cue id, ARGV[2] end PDT (ms), ARGV[3] stream MAXLEN, ARGV[4] seconds poll data is kept after the end
-- Returns {json of the cue, entry id}, or {} when the cue is not active.
local j = redis.call('HGET', KEYS[2], ARGV[1])
if not j then return {} end
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HEXISTS', KEYS[3], ARGV[1] .. ':open') == 1 then
  redis.call('HSET', KEYS[3], ARGV[1] .. ':open', 0)
  redis.call('EXPIRE', KEYS[4], ARGV[4])
end
local e = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'op', 'end', 'id', ARGV[1], 'end_pdt_ms', ARGV[2])
return {j, e}
