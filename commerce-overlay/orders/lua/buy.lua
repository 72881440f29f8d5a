#!lua
-- One atomic step per batch of buys for ONE SKU (every key below is in the
-- SKU's hash slot {sku:SKU}, so the script runs unchanged on Redis Cluster).
--   KEYS[1] cc:{sku:S}:stock    hash: avail, version, seq, sold, limit
--   KEYS[2] cc:{sku:S}:buyers   hash: viewer -> units bought
--   KEYS[3] cc:{sku:S}:orders   hash: order id -> order record
--   KEYS[3+i] cc:{sku:S}:idem:N:VIEWER:IDEM  string, the result of buy i (TTL)
--   ARGV[1] sku, ARGV[2] default per-viewer limit (0 = none), ARGV[3] idempotency TTL (s),
--   ARGV[4] order records' TTL (s) after the SKU's last order (0 = kept forever),
--   then 4 per buy: entry viewer qty record
--   (record: the order record as the service formats it, stored as is when the
--   buy is confirmed: `entry viewer sku qty price currency stream creator cue ts
--   created_ms`, tab-separated; building it here cost Redis a table and a
--   concatenation per buy)
-- Returns one string per buy: NEW \t status \t order \t reason \t stock \t version \t entry \t qty
-- (NEW = 1 when this call decided it, 0 when the idempotency key already had it).
--
-- Every read happens first, in four calls for the whole batch (HMGET stock,
-- HMGET buyers, MGET idempotency keys, HLEN orders: the type checks), then the
-- decisions in Lua, then the writes (one SET per buy, three HSETs per batch).
-- Nothing after the reads can fail (HSET on a hash, SET on any key), so an
-- error reply such as WRONGTYPE always comes before the first write: a batch
-- is all or nothing.
local sku = ARGV[1]
local deflimit = tonumber(ARGV[2]) or 0
local ttl = ARGV[3]
local orders_ttl = tonumber(ARGV[4]) or 0
local n = #KEYS - 3
local PER = 4 -- ARGV values per buy
local st = redis.call('HMGET', KEYS[1], 'avail', 'limit', 'version', 'seq', 'sold')
redis.call('HLEN', KEYS[3])
local avail = tonumber(st[1])
local limit = tonumber(st[2]) or deflimit
local version = tonumber(st[3]) or 0
local seq = tonumber(st[4]) or 0
local sold = tonumber(st[5]) or 0
local idk = {}
local viewers = {}
for i = 1, n do
  idk[i] = KEYS[3 + i]
  viewers[i] = ARGV[4 + (i - 1) * PER + 2]
end
local prev = redis.call('MGET', unpack(idk))
local had = redis.call('HMGET', KEYS[2], unpack(viewers))
local bought, touched = {}, {}
for i = 1, n do
  if bought[viewers[i]] == nil then bought[viewers[i]] = tonumber(had[i]) or 0 end
end
local out, done = {}, {}
local orders = {}
local changed = false
for i = 1, n do
  local b = 4 + (i - 1) * PER
  local entry, viewer, qty = ARGV[b + 1], viewers[i], tonumber(ARGV[b + 3])
  local k = idk[i]
  local p = prev[i] or done[k] -- done: the same key twice in this batch
  if p then
    out[i] = '0\t' .. p
  else
    local status, order, reason = 'invalid', '', ''
    if avail == nil then
      reason = 'unknown_sku'
    elseif avail < qty then
      status = 'sold_out'
      if avail > 0 then reason = 'only ' .. avail .. ' left' end
    elseif limit > 0 and bought[viewer] + qty > limit then
      status = 'limit_reached'
      reason = 'limit ' .. limit .. ' per viewer, already bought ' .. bought[viewer]
    else
      status = 'confirmed'
      avail = avail - qty
      version = version + 1
      seq = seq + 1
      sold = sold + qty
      changed = true
      bought[viewer] = bought[viewer] + qty
      touched[viewer] = true
      order = 'ord_' .. seq .. '_' .. sku
      orders[#orders + 1] = order
      orders[#orders + 1] = ARGV[b + 4]
    end
    local rec = table.concat({status, order, reason, avail or -1, version, entry, qty}, '\t')
    redis.call('SET', k, rec, 'EX', ttl)
    done[k] = rec
    out[i] = '1\t' .. rec
  end
end
if changed then
  redis.call('HSET', KEYS[1], 'avail', avail, 'version', version, 'seq', seq, 'sold', sold)
  local bv = {}
  for v in pairs(touched) do
    bv[#bv + 1] = v
    bv[#bv + 1] = bought[v]
  end
  redis.call('HSET', KEYS[2], unpack(bv))
  redis.call('HSET', KEYS[3], unpack(orders))
  -- Redis 7.0 has no TTL per hash field: the SKU's records go together,
  -- orders_ttl after its last order (fulfilment reads the events stream).
  if orders_ttl > 0 then redis.call('EXPIRE', KEYS[3], orders_ttl) end
end
return out
