-- Creates a cue: idempotency check, active set, poll tallies, change stream.
--   KEYS[1] cc:{stream:NAME}:cues  KEYS[2] cc:{stream:NAME}:active  KEYS[3] cc:{stream:NAME}:polls
--   KEYS[4] cc:{stream:NAME}:idem:KEY (when ARGV[8] is 1; else any key of the slot, unused)
--   ARGV[1] cue id, ARGV[2] cue JSON, ARGV[3] request fingerprint, ARGV[4] idempotency TTL (s),
--   ARGV[5] stream MAXLEN, ARGV[6] max active cues, ARGV[7] poll options (0 = not a poll),
--   ARGV[8] 1 when KEYS[4] is an idempotency key, ARGV[9] now (PDT ms), ARGV[10] grace (ms)
-- Returns {1, json, entry id} created; {0, json, fingerprint} replayed from the key;
-- error 'LIMIT ...' when too many cues are active.
if ARGV[8] == '1' then
  local prev = redis.call('GET', KEYS[4])
  if prev then
    local nl = string.find(prev, '\n', 1, true)
    return {0, string.sub(prev, nl + 1), string.sub(prev, 1, nl - 1)}
  end
end
local maxlen = ARGV[5]
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[6]) then
  -- cues whose duration ran out (grace included) end now, then count again
  local now, grace = tonumber(ARGV[9]), tonumber(ARGV[10])
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    local ok, c = pcall(cjson.decode, all[i + 1])
    if ok and type(c) == 'table' and type(c.duration_ms) == 'number' and type(c.pdt_ms) == 'number'
        and c.pdt_ms + c.duration_ms + grace < now then
      redis.call('HDEL', KEYS[2], all[i])
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'op', 'end', 'id', all[i],
        'end_pdt_ms', string.format('%d', c.pdt_ms + c.duration_ms))
    end
  end
  if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[6]) then
    return redis.error_reply('LIMIT ' .. ARGV[6] .. ' cues are active on this stream: end one first')
  end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local n = tonumber(ARGV[7])
if n > 0 then
  redis.call('HSET', KEYS[3], ARGV[1] .. ':open', 1, ARGV[1] .. ':n', n)
  for i = 0, n - 1 do redis.call('HSET', KEYS[3], ARGV[1] .. ':' .. i, 0) end
end
local e = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'op', 'create', 'id', ARGV[1], 'cue', ARGV[2])
if ARGV[8] == '1' then
  redis.call('SET', KEYS[4], ARGV[3] .. '\n' .. ARGV[2], 'EX', ARGV[4])
end
return {1, ARGV[2], e}
