#!lua
-- Publishes the results of a batch of buys and acknowledges them, atomically
-- (every key is in the slot {orders}).  XACK's answer is the exactly-once
-- guard: an entry whose XACK returns 0 was already published (by another
-- instance that claimed it, or a retry), so it gets no second event and is
-- not counted twice.
--   KEYS[1] cc:{orders}:buys  KEYS[2] cc:{orders}:events  KEYS[3] cc:{orders}:stock
--   KEYS[4] cc:{orders}:sales:total  KEYS[5] cc:{orders}:sales:creators (set)
--   KEYS[6] cc:{orders}:sales:streams (set)
--   KEYS[6+1 .. 6+NC] the sales hashes of the NC creators below, then those of the NS streams
--   ARGV[1] group, ARGV[2] stock stream MAXLEN, ARGV[3] events MAXLEN (0 = no cap here),
--   ARGV[4] the events' `at`, then
--     NC, NC creator names; NS, NS stream names   (of the buys that count: below)
--     NA, NA triples KEYS-index field delta         (the sales of all buys that count)
--     NK, NK triples sku stock version              (the stock change per SKU)
--   then per buy the event's values in the order of F below, without `v` and `at`.
-- A buy "counts" when it created a confirmed order (status confirmed, dup 0).
-- The service adds up the sales and stock changes of the batch (NA, NK): they
-- are right when every buy that counts is acknowledged here, the normal case.
-- When one of them was already acknowledged (a duplicate delivery), the
-- script adds up the acknowledged ones itself instead.
-- Field names come from F, not from ARGV: constant strings cost Redis nothing
-- per call, and the event schema lives in one place (docs/redis-schema.md).
-- Returns one integer per buy: 1 published, 0 already acknowledged.
local F = {'v', 'status', 'order', 'reason', 'buy', 'idem', 'viewer', 'sku', 'qty', 'price', 'currency', 'amount',
  'commission', 'stream', 'creator', 'cue', 'ts', 'stock', 'version', 'dup', 'node', 'req', 'at'}
local NF = #F
local NV = NF - 2 -- values per buy in ARGV: all but v and at
-- positions in F of what the script itself needs
local STATUS, BUY, SKU, QTY, CUR, AMOUNT, COMMISSION, STREAM, CREATOR, STOCK, VERSION, DUP =
  2, 5, 8, 9, 11, 12, 13, 14, 15, 18, 19, 20
for k = 4, #KEYS do
  if k ~= 5 and k ~= 6 then redis.call('HLEN', KEYS[k]) end -- WRONGTYPE checks before any write
end
redis.call('SCARD', KEYS[5])
redis.call('SCARD', KEYS[6])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('XLEN', KEYS[2]) end
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('XLEN', KEYS[3]) end
local group = ARGV[1]
local stock_maxlen = ARGV[2]
local events_maxlen = tonumber(ARGV[3]) or 0
local i = 5
local nc = tonumber(ARGV[i])
local creators = {unpack(ARGV, i + 1, i + nc)}
i = i + 1 + nc
local ns = tonumber(ARGV[i])
local streams = {unpack(ARGV, i + 1, i + ns)}
i = i + 1 + ns
local na = tonumber(ARGV[i])
local sales_at = i + 1
i = i + 1 + 3 * na
local nk = tonumber(ARGV[i])
local stock_at = i + 1
i = i + 1 + 3 * nk
local first = i -- the first buy's values
local ev = {}
for k = 1, NF do ev[2 * k - 1] = F[k] end
ev[2] = '1'
ev[2 * NF] = ARGV[4]
local res = {}
local all_counted = true -- every buy that counts was acknowledged here
while i <= #ARGV do
  local acked = redis.call('XACK', KEYS[1], group, ARGV[i + BUY - 2])
  if acked == 1 then
    for k = 2, NF - 1 do ev[2 * k] = ARGV[i + k - 2] end
    if events_maxlen > 0 then
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', events_maxlen, '*', unpack(ev))
    else
      redis.call('XADD', KEYS[2], '*', unpack(ev))
    end
  elseif ARGV[i + STATUS - 2] == 'confirmed' and ARGV[i + DUP - 2] == '0' then
    all_counted = false
  end
  res[#res + 1] = acked
  i = i + NV
end

if all_counted then
  for k = sales_at, sales_at + 3 * (na - 1), 3 do
    redis.call('HINCRBY', KEYS[tonumber(ARGV[k])], ARGV[k + 1], ARGV[k + 2])
  end
  if nc > 0 then redis.call('SADD', KEYS[5], unpack(creators)) end
  if ns > 0 then redis.call('SADD', KEYS[6], unpack(streams)) end
  for k = stock_at, stock_at + 3 * (nk - 1), 3 do
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', stock_maxlen, '*', 'sku', ARGV[k], 'stock', ARGV[k + 1],
      'version', ARGV[k + 2], 'source', 'order')
  end
  return res
end

-- Some buy that counts had been published already: add up the others here.
local ckey, skey = {}, {}
for k = 1, nc do ckey[creators[k]] = KEYS[6 + k] end
for k = 1, ns do skey[streams[k]] = KEYS[6 + nc + k] end
local add, keys_order = {}, {}
local cset, sset, stock, stock_order = {}, {}, {}, {}
local function incr(key, field, v)
  local t = add[key]
  if t == nil then t = {}; add[key] = t; keys_order[#keys_order + 1] = key end
  t[field] = (t[field] or 0) + v
end
for b = 1, #res do
  local base = first + (b - 1) * NV - 2 -- value k of this buy is ARGV[base + k]
  if res[b] == 1 and ARGV[base + STATUS] == 'confirmed' and ARGV[base + DUP] == '0' then
    local qty, amount, commission = tonumber(ARGV[base + QTY]), tonumber(ARGV[base + AMOUNT]),
      tonumber(ARGV[base + COMMISSION])
    local cur, creator, stream = ARGV[base + CUR], ARGV[base + CREATOR], ARGV[base + STREAM]
    for _, key in ipairs({KEYS[4], ckey[creator], skey[stream]}) do
      incr(key, 'orders', 1)
      incr(key, 'units', qty)
      incr(key, 'amount:' .. cur, amount)
      incr(key, 'commission:' .. cur, commission)
    end
    cset[creator] = true
    sset[stream] = true
    local sku = ARGV[base + SKU]
    local v = tonumber(ARGV[base + VERSION])
    local s = stock[sku]
    if s == nil then stock_order[#stock_order + 1] = sku end
    if s == nil or v > s[2] then stock[sku] = {ARGV[base + STOCK], v} end
  end
end
for _, key in ipairs(keys_order) do
  for field, v in pairs(add[key]) do redis.call('HINCRBY', key, field, v) end
end
for c in pairs(cset) do redis.call('SADD', KEYS[5], c) end
for s in pairs(sset) do redis.call('SADD', KEYS[6], s) end
for _, sku in ipairs(stock_order) do
  local s = stock[sku]
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', stock_maxlen, '*', 'sku', sku, 'stock', s[1], 'version', s[2],
    'source', 'order')
end
return res
