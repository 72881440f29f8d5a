-- One moderator action (or an automatic rejection to log), applied and
-- announced to every overlay on the chat stream, and appended to the
-- moderation log, in one step (docs/chat.md).
-- KEYS: 1 chat stream, 2 recent, 3 msgs, 4 pinned, 5 settings, 6 terms, 7 muted,
--       8 banned, 9 questions, 10 held, 11 modlog
-- ARGV: 1 action, 2 who, 3 scope, 4 now ms, 5 target (message id or viewer), 6 reason,
--       7 value (mute: until ms; settings: slow_ms; terms: JSON list; log: the text),
--       8 value 2 (settings: hold_all 0/1/""; log: the action logged), 9 stream MAXLEN, 10 history size, 11 modlog MAXLEN
-- -> {"ok", detail} | {"unknown", ""}
local action, target, now = ARGV[1], ARGV[5], ARGV[4]
local detail = ''
local function xadd(...)
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[9], '*', ...)
end
local text = ''
if action == 'delete' then
  local json = redis.call('HGET', KEYS[3], target)
  local held = redis.call('HGET', KEYS[10], target)
  if not json and held then json = string.sub(held, string.find(held, '\n', 1, true) + 1) end
  local found = redis.call('HDEL', KEYS[3], target) + redis.call('HDEL', KEYS[10], target)
                + redis.call('HDEL', KEYS[9], target)
  redis.call('LREM', KEYS[2], 0, target)
  if redis.call('HGET', KEYS[4], 'id') == target then
    redis.call('DEL', KEYS[4])
    xadd('op', 'unpin', 'id', target)
  end
  xadd('op', 'del', 'id', target)
  text = json or ''
  detail = tostring(found)
elseif action == 'pin' then
  local json = redis.call('HGET', KEYS[3], target)
  if not json then return {'unknown', ''} end
  redis.call('HSET', KEYS[4], 'id', target, 'json', json)
  xadd('op', 'pin', 'id', target, 'json', json)
  text = json
elseif action == 'unpin' then
  target = redis.call('HGET', KEYS[4], 'id') or ''
  redis.call('DEL', KEYS[4])
  xadd('op', 'unpin', 'id', target)
elseif action == 'answer' then
  local json = redis.call('HGET', KEYS[9], target)
  if not json then return {'unknown', ''} end
  redis.call('HDEL', KEYS[9], target)
  xadd('op', 'answered', 'id', target)
  text = json
elseif action == 'mute' then
  redis.call('HSET', KEYS[7], target, ARGV[7])
  xadd('op', 'mute', 'viewer', target, 'until_ms', ARGV[7])
  text = ARGV[7]
elseif action == 'unmute' then
  if redis.call('HDEL', KEYS[7], target) == 0 then return {'unknown', ''} end
  xadd('op', 'unmute', 'viewer', target)
elseif action == 'ban' then
  redis.call('HSET', KEYS[8], target, cjson.encode({ts = tonumber(now), who = ARGV[2], reason = ARGV[6]}))
  xadd('op', 'ban', 'viewer', target)
elseif action == 'unban' then
  if redis.call('HDEL', KEYS[8], target) == 0 then return {'unknown', ''} end
  xadd('op', 'unban', 'viewer', target)
elseif action == 'settings' then
  if ARGV[7] ~= '' then redis.call('HSET', KEYS[5], 'slow_ms', ARGV[7]) end
  if ARGV[8] ~= '' then redis.call('HSET', KEYS[5], 'hold_all', ARGV[8]) end
  local s = redis.call('HMGET', KEYS[5], 'slow_ms', 'hold_all')
  xadd('op', 'settings', 'slow_ms', s[1] or '0', 'hold_all', s[2] or '0')
  text = 'slow_ms=' .. (s[1] or '0') .. ' hold_all=' .. (s[2] or '0')
elseif action == 'terms' then
  redis.call('SET', KEYS[6], ARGV[7])
  xadd('op', 'terms', 'terms', ARGV[7])
  text = ARGV[7]
elseif action == 'approve' then
  local held = redis.call('HGET', KEYS[10], target)
  if not held then return {'unknown', ''} end
  redis.call('HDEL', KEYS[10], target)
  local json = string.sub(held, string.find(held, '\n', 1, true) + 1)
  if string.find(json, '"question":true', 1, true) then redis.call('HSET', KEYS[9], target, json) end
  redis.call('HSET', KEYS[3], target, json)
  redis.call('LPUSH', KEYS[2], target)
  local n = tonumber(ARGV[10])
  while redis.call('LLEN', KEYS[2]) > n do
    redis.call('HDEL', KEYS[3], redis.call('RPOP', KEYS[2]))
  end
  detail = xadd('op', 'msg', 'id', target, 'json', json)
  text = json
elseif action == 'reject' then
  local held = redis.call('HGET', KEYS[10], target)
  if not held then return {'unknown', ''} end
  redis.call('HDEL', KEYS[10], target)
  text = string.sub(held, string.find(held, '\n', 1, true) + 1)
  xadd('op', 'rejected', 'id', target)
elseif action == 'log' then
  -- an automatic rejection: ARGV[8] names it (blocked_term, review_deny, review_fallback)
  action, text = ARGV[8], ARGV[7]
else
  return redis.error_reply('ACTION unknown action ' .. action)
end
local entry = redis.call('XADD', KEYS[11], 'MAXLEN', '~', ARGV[11], '*', 'ts', now, 'who', ARGV[2], 'scope', ARGV[3],
  'action', action, 'target', target, 'reason', ARGV[6], 'text', text)
if detail == '' then detail = entry end
return {'ok', detail}
