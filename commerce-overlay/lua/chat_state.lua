-- Everything a chat room or the moderation panel reads at once (docs/chat.md).
-- KEYS: 1 chat stream, 2 recent (list of ids, newest first), 3 msgs (hash id -> json),
--       4 pinned (hash id, json), 5 settings (hash), 6 terms (string: JSON list),
--       7 muted (hash viewer -> until ms), 8 banned (hash viewer -> json),
--       9 questions (hash id -> json), 10 held (hash id -> reason "\n" json)
-- ARGV: 1 how many history messages
-- -> {last stream id, {history json, oldest first}, pinned json or "", {settings flat},
--     terms json or "", {muted flat}, {banned flat}, {questions json}, {held reason\njson}}
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local last_id = '0-0'
if #last > 0 then last_id = last[1][1] end
local ids = redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1)
local history = {}
if #ids > 0 then
  local js = redis.call('HMGET', KEYS[3], unpack(ids))
  for i = #js, 1, -1 do
    if js[i] then history[#history + 1] = js[i] end
  end
end
local pinned = redis.call('HGET', KEYS[4], 'json') or ''
local terms = redis.call('GET', KEYS[6]) or ''
return {last_id, history, pinned, redis.call('HGETALL', KEYS[5]), terms, redis.call('HGETALL', KEYS[7]),
        redis.call('HGETALL', KEYS[8]), redis.call('HVALS', KEYS[9]), redis.call('HVALS', KEYS[10])}
