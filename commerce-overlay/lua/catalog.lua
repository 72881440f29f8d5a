#!lua
-- Creates, updates or deletes one product of a creator's catalog (slot {catalog}).
--   KEYS[1] cc:{catalog}:creator:ID   hash SKU -> product JSON
--   KEYS[2] cc:{catalog}:owners       hash SKU -> creator (a SKU is global: the order
--                                     service keeps one stock per SKU)
--   ARGV[1] 'create' | 'update' | 'delete', ARGV[2] SKU, ARGV[3] creator,
--   ARGV[4] product JSON (create, update), ARGV[5] most products per creator
-- Returns the op done, or an error: TAKEN <creator>, EXISTS product, NOTFOUND product, FULL catalog
-- (two words: Redis prefixes a one-word error with ERR).
local op, sku, creator = ARGV[1], ARGV[2], ARGV[3]
for i = 1, 2 do
  local t = redis.call('TYPE', KEYS[i])['ok']
  if t ~= 'none' and t ~= 'hash' then return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' is a ' .. t) end
end
local owner = redis.call('HGET', KEYS[2], sku)
local mine = redis.call('HEXISTS', KEYS[1], sku) == 1
if op == 'create' then
  if owner and owner ~= creator then return redis.error_reply('TAKEN ' .. owner) end
  if mine then return redis.error_reply('EXISTS product') end
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then return redis.error_reply('FULL catalog') end
  redis.call('HSET', KEYS[1], sku, ARGV[4])
  redis.call('HSET', KEYS[2], sku, creator)
  return 'created'
end
if not mine then return redis.error_reply('NOTFOUND product') end
if op == 'update' then
  redis.call('HSET', KEYS[1], sku, ARGV[4])
  return 'updated'
end
redis.call('HDEL', KEYS[1], sku)
redis.call('HDEL', KEYS[2], sku)
return 'deleted'
