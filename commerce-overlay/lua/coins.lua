#!lua
-- Credits (or, with a negative N, takes back) a viewer's coins: the one way
-- coins enter the system (cartcast-orders coins add, the overlay's admin
-- POST /v1/viewers/ID/coins; a payment provider's webhook would call the same).
--   KEYS[1] cc:{orders}:coins          hash viewer -> balance
--   KEYS[2] cc:{orders}:gifts:total    hash: 'credited' = every coin ever credited
--   KEYS[3] cc:{orders}:events         a 'kind coins' entry: every overlay pushes the new
--                                      balance to the viewer's connections
--   ARGV[1] viewer, ARGV[2] N (integer, may be negative; the balance never goes below 0),
--   ARGV[3] now (ms)
-- Returns the new balance, or an error when it would be negative.
local n = tonumber(ARGV[2])
if n == nil or n ~= math.floor(n) then return redis.error_reply('ERR coins must be an integer') end
local t = redis.call('TYPE', KEYS[1])['ok']
if t ~= 'none' and t ~= 'hash' then return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' is a ' .. t) end
local bal = tonumber(redis.call('HGET', KEYS[1], ARGV[1])) or 0
if bal + n < 0 then return redis.error_reply('NEGATIVE balance would be ' .. (bal + n)) end
redis.call('HINCRBY', KEYS[2], 'credited', n)
bal = redis.call('HINCRBY', KEYS[1], ARGV[1], n)
redis.call('XADD', KEYS[3], '*', 'v', '1', 'kind', 'coins', 'status', 'coins', 'viewer', ARGV[1], 'coins', n,
  'balance', bal, 'at', ARGV[3])
return bal
