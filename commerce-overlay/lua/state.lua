-- A stream's overlay state, read atomically so that a reader can go on with
-- XREAD from the returned id without missing or repeating a change.
--   KEYS[1] cc:{stream:NAME}:cues    stream of changes
--   KEYS[2] cc:{stream:NAME}:active  hash: cue id -> cue JSON
--   KEYS[3] cc:{stream:NAME}:polls   hash: ID:open, ID:n, ID:0 .. ID:n-1 (tallies)
--   KEYS[4] cc:{stream:NAME}:live    hash the origin writes (its existence = announced)
-- Returns {last entry id ("0-0" when none), {id, json, ...}, {field, value, ...}, announced 0/1}
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
return {id, redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3]), redis.call('EXISTS', KEYS[4])}
