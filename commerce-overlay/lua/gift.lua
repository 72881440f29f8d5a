#!lua
-- One virtual gift, in one atomic step (every key in the {orders} slot, so the
-- events stream the order service documents can take the entry in the same
-- script; docs/gifts-and-shop.md).
--   KEYS[1] cc:{orders}:coins                     hash viewer -> coin balance
--   KEYS[2] cc:{orders}:gift:idem:N:VIEWER:KEY    string: the first answer for this key (TTL)
--   KEYS[3] cc:{orders}:earnings:creator:CREATOR  hash gifts, gift_coins, gift_earnings, gift_platform
--   KEYS[4] cc:{orders}:gifts:top:STREAM          zset viewer -> coins given on this stream
--   KEYS[5] cc:{orders}:events                    stream: one entry per gift (status "gift")
--   KEYS[6] cc:{orders}:gifts:total               hash gifts, coins, creator, platform (the ledger's totals)
--   ARGV    viewer, gift id, gift name, price (coins), creator share (percent 0-100),
--           creator, stream, ts, node, req, idempotency key, key TTL (s)
-- Returns {status, balance, creator coins, event id, dup}: status "sent" or
-- "insufficient" (nothing written: a retry after a top-up may still succeed).
-- The creator's part is floor(price * share / 100) and the platform keeps the
-- rest, so coins debited == creator coins + platform coins, exactly.
local viewer, gift, name = ARGV[1], ARGV[2], ARGV[3]
local price, share = tonumber(ARGV[4]), tonumber(ARGV[5])
local creator, stream, ts, node, req, idem, ttl = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]

local seen = redis.call('GET', KEYS[2])
if seen then
  local bal = tonumber(redis.call('HGET', KEYS[1], viewer)) or 0
  local c, id = string.match(seen, '^(%d+)\t(.*)$')
  return {'sent', bal, tonumber(c) or 0, id or '', 1}
end
-- type checks before the first write, so a WRONGTYPE never leaves half a gift
local want = {'hash', 'string', 'hash', 'zset', 'stream', 'hash'}
for i = 1, 6 do
  local t = redis.call('TYPE', KEYS[i])['ok']
  if t ~= 'none' and t ~= want[i] then return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' is a ' .. t) end
end
local bal = tonumber(redis.call('HGET', KEYS[1], viewer)) or 0
if bal < price then return {'insufficient', bal, 0, '', 0} end
local creator_coins = math.floor(price * share / 100)
local platform_coins = price - creator_coins
bal = redis.call('HINCRBY', KEYS[1], viewer, -price)
redis.call('HINCRBY', KEYS[3], 'gifts', 1)
redis.call('HINCRBY', KEYS[3], 'gift_coins', price)
redis.call('HINCRBY', KEYS[3], 'gift_earnings', creator_coins)
redis.call('HINCRBY', KEYS[3], 'gift_platform', platform_coins)
redis.call('HINCRBY', KEYS[6], 'gifts', 1)
redis.call('HINCRBY', KEYS[6], 'coins', price)
redis.call('HINCRBY', KEYS[6], 'creator', creator_coins)
redis.call('HINCRBY', KEYS[6], 'platform', platform_coins)
redis.call('ZINCRBY', KEYS[4], price, viewer)
local id = redis.call('XADD', KEYS[5], '*', 'v', '1', 'kind', 'gift', 'status', 'gift', 'order', '', 'reason', '',
  'idem', idem, 'viewer', viewer, 'stream', stream, 'creator', creator, 'gift', gift, 'name', name,
  'coins', price, 'creator_coins', creator_coins, 'platform_coins', platform_coins, 'balance', bal,
  'ts', ts, 'node', node, 'req', req, 'at', ts)
redis.call('SET', KEYS[2], creator_coins .. '\t' .. id, 'EX', ttl)
return {'sent', bal, creator_coins, id, 0}
