#!lua
-- Publishes the results of a batch of buys and acknowledges them, atomically
-- (every key is in the slot {orders}).  XACK's answer is the exactly-once
-- guard: an entry whose XACK returns 0 was already published (by another
-- instance that claimed it, or a retry), so it gets no second event and is
-- not counted twice.
--   KEYS[1] cc:{orders}:buys  KEYS[2] cc:{orders}:events  KEYS[3] cc:{orders}:stock
--   KEYS[4] cc:{orders}:sales:total  KEYS[5] cc:{orders}:sales:creators (set)
--   KEYS[6] cc:{orders}:sales:streams (set)  KEYS[7..] per-creator and per-stream sales hashes
--   ARGV[1] group, ARGV[2] stock stream MAXLEN, ARGV[3] events MAXLEN (0 = no cap here), then per buy:
--     count ckey skey, then the event's values in the order of F below
--     (count = 1: this entry created a confirmed order: add it to the sales;
--      ckey/skey: the KEYS index of its creator's and stream's sales hash)
-- Field names come from F, not from ARGV: constant strings cost Redis nothing
-- per call, and the event schema lives in one place (docs/redis-schema.md).
-- Returns one integer per buy: 1 published, 0 already acknowledged.
local F = {'v', 'status', 'order', 'reason', 'buy', 'idem', 'viewer', 'sku', 'qty', 'price', 'currency', 'amount',
  'commission', 'stream', 'creator', 'cue', 'ts', 'stock', 'version', 'dup', 'node', 'req', 'at'}
local NF = #F
-- positions in F of what the script itself needs
local BUY, SKU, QTY, CUR, AMOUNT, COMMISSION, STREAM, CREATOR, STOCK, VERSION = 5, 8, 9, 11, 12, 13, 14, 15, 18, 19
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
local res = {}
local add, keys_order = {}, {}
local creators, streams, stock, stock_order = {}, {}, {}, {}
local ev = {}
for k = 1, NF do ev[2 * k - 1] = F[k] end
local function incr(key, field, v)
  local t = add[key]
  if t == nil then t = {}; add[key] = t; keys_order[#keys_order + 1] = key end
  t[field] = (t[field] or 0) + v
end
local i = 4
while i <= #ARGV do
  local count, base = ARGV[i], i + 2 -- value k of this event is ARGV[base + k]
  local entry = ARGV[base + BUY]
  local acked = redis.call('XACK', KEYS[1], group, entry)
  if acked == 1 then
    for k = 1, NF do ev[2 * k] = ARGV[base + k] end
    if events_maxlen > 0 then
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', events_maxlen, '*', unpack(ev))
    else
      redis.call('XADD', KEYS[2], '*', unpack(ev))
    end
    if count == '1' then
      local qty, amount, commission = tonumber(ARGV[base + QTY]), tonumber(ARGV[base + AMOUNT]),
        tonumber(ARGV[base + COMMISSION])
      local cur = ARGV[base + CUR]
      for _, key in ipairs({KEYS[4], KEYS[tonumber(ARGV[i + 1])], KEYS[tonumber(ARGV[i + 2])]}) do
        incr(key, 'orders', 1)
        incr(key, 'units', qty)
        incr(key, 'amount:' .. cur, amount)
        incr(key, 'commission:' .. cur, commission)
      end
      creators[ARGV[base + CREATOR]] = true
      streams[ARGV[base + STREAM]] = true
      local sku = ARGV[base + SKU]
      local v = tonumber(ARGV[base + VERSION])
      local s = stock[sku]
      if s == nil then stock_order[#stock_order + 1] = sku end
      if s == nil or v > s[2] then stock[sku] = {ARGV[base + STOCK], v} end
    end
  end
  res[#res + 1] = acked
  i = i + 3 + NF
end
for _, key in ipairs(keys_order) do
  for field, v in pairs(add[key]) do redis.call('HINCRBY', key, field, v) end
end
for c in pairs(creators) do redis.call('SADD', KEYS[5], c) end
for s in pairs(streams) do redis.call('SADD', KEYS[6], s) end
for _, sku in ipairs(stock_order) do
  local s = stock[sku]
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', stock_maxlen, '*', 'sku', sku, 'stock', s[1], 'version', s[2],
    'source', 'order')
end
return res
