#!lua
-- Trims a stream without ever dropping an entry that a consumer group still
-- needs: the cut is the smaller of ARGV[1] (an ID, e.g. now - retention) and,
-- for every group on the stream, its oldest pending entry (or, with nothing
-- pending, the entry after its last-delivered-id).  It runs atomically, so no
-- entry can become pending between the look and the cut.  XTRIM MINID ~ only
-- ever trims less than asked.  KEYS[1] the stream.  Returns entries removed.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local function parse(id)
  local ms, sq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(sq)
end
local cms, csq = parse(ARGV[1])
local function lower(id)
  local ms, sq = parse(id)
  if ms < cms or (ms == cms and sq < csq) then cms, csq = ms, sq end
end
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, pending, last
  for j = 1, #g, 2 do
    if g[j] == 'name' then name = g[j + 1]
    elseif g[j] == 'pending' then pending = g[j + 1]
    elseif g[j] == 'last-delivered-id' then last = g[j + 1] end
  end
  if pending > 0 then
    lower(redis.call('XPENDING', KEYS[1], name)[2])
  else
    local ms, sq = parse(last)
    lower(ms .. '-' .. (sq + 1))
  end
end
return redis.call('XTRIM', KEYS[1], 'MINID', '~', cms .. '-' .. csq)
