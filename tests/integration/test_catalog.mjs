#!/usr/bin/env node
// Creator catalogs and the shop API (docs/gifts-and-shop.md): real redis-server,
// a real cartcast-overlay and a real cartcast-orders that decides the shop's buys.
//   node tests/integration/test_catalog.mjs        (CC_BUILD_DIR picks the build)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BUILD, freePort, hash, rest, Stack, TOKEN, waitFor } from './overlay_lib.mjs';

const C = 'anna';
const OTHER_TOKEN = 'operator-token-of-bob';

export async function startOrders(stack, redis) {
  const port = await freePort();
  const log = path.join(stack.dir, `orders-${port}.log`);
  const fd = openSync(log, 'w');
  const p = spawn(path.join(BUILD, 'cartcast-orders'), ['--redis', redis.url, '--http-port', String(port),
    '--bind', '127.0.0.1', '--consumer', `orders-${port}`], { stdio: ['ignore', fd, fd] });
  stack.procs.push({ name: 'cartcast-orders', p, log });
  await waitFor(async () => {
    if (p.exitCode !== null) throw new Error(`cartcast-orders exited ${p.exitCode}:\n${readFileSync(log, 'utf8')}`);
    try { return (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200; } catch { return false; }
  }, 10000, 'cartcast-orders /healthz');
  return { port, log };
}

const product = (sku, extra = {}) => ({ sku, title: `Product ${sku}`, description: 'Line one\nline two', price: 1999,
  currency: 'EUR', image_url: 'https://cdn.example.com/p.jpg', stock: 5, featured: true, ...extra });

describe('catalog and shop', { timeout: 240000 }, () => {
  let stack, redis, ov;

  before(async () => {
    stack = new Stack();
    redis = await stack.redis();
    ov = await stack.overlay(redis, ['--operator-token', `${TOKEN}=${C}`, '--operator-token', `${OTHER_TOKEN}=bob`]);
    await startOrders(stack, redis);
  });

  after(async () => { await stack.stop(); });

  it('auth: 401 without a token, 403 for another creator', async () => {
    let r = await rest(ov, 'GET', `/v1/creators/${C}/products`);
    assert.equal(r.status, 401);
    r = await rest(ov, 'POST', `/v1/creators/${C}/products`, { token: OTHER_TOKEN, body: product('X-1') });
    assert.equal(r.status, 403);
    r = await rest(ov, 'PUT', `/v1/creators/${C}/earnings`, { token: TOKEN });
    assert.equal(r.status, 405);
  });

  it('field-level validation: every bad field is named (400)', async () => {
    const bad = { sku: 'has space', title: '', description: 'bell\u0007', price: 12.5, currency: 'eur',
      image_url: 'javascript:alert(1)', checkout_url: 'ftp://x', stock: -1, featured: 'yes', max_qty: 0, colour: 'red' };
    const r = await rest(ov, 'POST', `/v1/creators/${C}/products`, { token: TOKEN, body: bad });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'validation');
    const fields = Object.fromEntries(r.json.fields.map((f) => [f.field, f.message]));
    for (const f of ['colour', 'sku', 'title', 'description', 'price', 'currency', 'image_url', 'checkout_url', 'stock',
      'featured', 'max_qty'])
      assert.ok(fields[f], `no error for ${f}: ${JSON.stringify(r.json)}`);
    assert.match(fields.price, /minor units/);
    assert.match(fields.currency, /ISO 4217/);
    assert.equal(fields.colour, 'unknown field');
    let q = await rest(ov, 'POST', `/v1/creators/${C}/products`, { token: TOKEN, body: '{nope' });
    assert.equal(q.status, 400);
    assert.match(q.json.message, /not valid JSON/);
    q = await rest(ov, 'POST', `/v1/creators/${C}/products`, { token: TOKEN, body: { title: 'x' } });
    assert.deepEqual(q.json.fields.map((f) => f.field).sort(), ['currency', 'price', 'sku']);
    q = await rest(ov, 'POST', `/v1/creators/${C}/products`, { token: TOKEN, body: 'x'.repeat(20000) });
    assert.equal(q.status === 400 || q.status === 413, true);
  });

  it('create, read, update, delete; stock goes to the order service; SKUs are global', async () => {
    let r = await rest(ov, 'POST', `/v1/creators/${C}/products`, { token: TOKEN, body: product('MUG-1', { stock: 7 }) });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.sku, 'MUG-1');
    assert.equal(r.json.stock, 7);
    assert.equal(r.json.featured, true);
    assert.equal(Number(await redis.call('HGET', 'cc:{sku:MUG-1}:stock', 'avail')), 7);
    r = await rest(ov, 'POST', `/v1/creators/${C}/products`, { token: TOKEN, body: product('MUG-1') });
    assert.equal(r.status, 409);
    assert.equal(r.json.error, 'product_exists');
    r = await rest(ov, 'POST', '/v1/creators/bob/products', { token: OTHER_TOKEN, body: product('MUG-1') });
    assert.equal(r.status, 409);
    assert.equal(r.json.error, 'sku_taken');
    r = await rest(ov, 'PUT', `/v1/creators/${C}/products/MUG-1`, { token: TOKEN,
      body: { title: 'Red mug', price: 1299, currency: 'EUR', featured: false } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.title, 'Red mug');
    assert.equal(r.json.stock, undefined, 'no stock given: left as it is');
    assert.equal(Number(await redis.call('HGET', 'cc:{sku:MUG-1}:stock', 'avail')), 7);
    r = await rest(ov, 'PUT', `/v1/creators/${C}/products/MUG-1`, { token: TOKEN, body: product('MUG-2') });
    assert.equal(r.status, 400);
    assert.equal(r.json.fields[0].field, 'sku');
    r = await rest(ov, 'PUT', `/v1/creators/${C}/products/NOPE`, { token: TOKEN, body: product('NOPE') });
    assert.equal(r.status, 404);
    assert.equal(r.json.error, 'unknown_product');
    r = await rest(ov, 'GET', `/v1/creators/${C}/products/MUG-1`, { token: TOKEN });
    assert.equal(r.json.price, 1299);
    r = await rest(ov, 'DELETE', `/v1/creators/${C}/products/MUG-1`, { token: TOKEN });
    assert.deepEqual(r.json, { sku: 'MUG-1', deleted: true });
    r = await rest(ov, 'GET', `/v1/creators/${C}/products/MUG-1`, { token: TOKEN });
    assert.equal(r.status, 404);
    r = await rest(ov, 'POST', '/v1/creators/bob/products', { token: OTHER_TOKEN, body: product('MUG-1') });
    assert.equal(r.status, 201, 'a deleted SKU is free again');
  });

  it('the shop: at most five featured products with live stock, and the live badge while the stream is live', async () => {
    for (const sku of ['S-7', 'S-6', 'S-5', 'S-4', 'S-3', 'S-2', 'S-1'])
      assert.equal((await rest(ov, 'POST', `/v1/creators/${C}/products`, { token: TOKEN, body: product(sku, { stock: 3 }) })).status, 201);
    assert.equal((await rest(ov, 'POST', `/v1/creators/${C}/products`, { token: TOKEN,
      body: product('HIDDEN', { featured: false }) })).status, 201);
    let r = await rest(ov, 'GET', `/v1/creators/${C}/products`, { token: TOKEN });
    assert.deepEqual(r.json.products.map((p) => p.sku), ['HIDDEN', 'S-1', 'S-2', 'S-3', 'S-4', 'S-5', 'S-6', 'S-7']);
    r = await rest(ov, 'GET', `/v1/shop/${C}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.products.map((p) => [p.sku, p.stock]), [['S-1', 3], ['S-2', 3], ['S-3', 3], ['S-4', 3], ['S-5', 3]]);
    assert.equal(r.json.live, null);
    assert.match(r.json.token, /^v[0-9a-f]{24}\./);
    const again = await rest(ov, 'GET', `/v1/shop/${C}?viewer=${r.json.token}`);
    assert.equal(again.json.viewer, r.json.viewer, 'the identity is kept');
    const stop = stack.fakeLive(redis, C);
    r = await rest(ov, 'GET', `/v1/shop/${C}`);
    assert.deepEqual(r.json.live, { stream: C, watch: `/watch/${C}` });
    stop();
    await redis.call('HSET', `cc:{stream:${C}}:live`, 'live', 0);
    r = await rest(ov, 'GET', `/v1/shop/${C}`);
    assert.equal(r.json.live, null);
  });

  it('a shop buy goes through the orders stream, attributed to the shop, and comes back confirmed', async () => {
    const shop = (await rest(ov, 'GET', `/v1/shop/${C}`)).json;
    let r = await rest(ov, 'POST', `/v1/shop/${C}/buy`, { body: { sku: 'S-1', idempotency_key: 'b-1' } });
    assert.equal(r.status, 401);
    assert.equal(r.json.error, 'invalid_viewer');
    r = await rest(ov, 'POST', `/v1/shop/${C}/buy`, { body: { sku: 'S 1', qty: 0, viewer: shop.token } });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json.fields.map((f) => f.field), ['sku', 'qty', 'idempotency_key']);
    r = await rest(ov, 'POST', `/v1/shop/${C}/buy`, { body: { sku: 'NOPE', idempotency_key: 'b-0', viewer: shop.token } });
    assert.equal(r.status, 404);
    r = await rest(ov, 'POST', `/v1/shop/${C}/buy`, { body: { sku: 'S-1', qty: 2, idempotency_key: 'b-1', viewer: shop.token } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'confirmed');
    assert.equal(r.json.stream, '_shop');
    assert.equal(r.json.cue, `shop:${C}`);
    assert.equal(r.json.creator, C);
    assert.equal(r.json.viewer, shop.viewer);
    assert.equal(r.json.amount, String(2 * 1999));
    assert.equal(r.json.stock, '1');
    assert.match(r.json.order, /^ord_/);
    const order = r.json.order;
    // a retried tap: the same order, not counted again
    r = await rest(ov, 'POST', `/v1/shop/${C}/buy`, { body: { sku: 'S-1', qty: 2, idempotency_key: 'b-1', viewer: shop.token } });
    assert.equal(r.json.status, 'confirmed');
    assert.equal(r.json.order, order);
    assert.equal(r.json.dup, '1');
    r = await rest(ov, 'POST', `/v1/shop/${C}/buy`, { body: { sku: 'S-1', qty: 2, idempotency_key: 'b-2', viewer: shop.token } });
    assert.equal(r.json.status, 'sold_out');
    const sales = hash(await redis.call('HGETALL', 'cc:{orders}:sales:stream:_shop'));
    assert.equal(Number(sales.orders), 1);
    assert.equal(Number(sales['amount:EUR']), 2 * 1999);
    r = await rest(ov, 'GET', `/v1/creators/${C}/earnings`, { token: TOKEN });
    assert.equal(r.json.sales.orders, 1);
    assert.equal(r.json.sales.amount.EUR, 2 * 1999);
    // a product with its own checkout page is not bought here
    await rest(ov, 'POST', `/v1/creators/${C}/products`, { token: TOKEN,
      body: product('EXT-1', { checkout_url: 'https://shop.example.com/ext-1' }) });
    r = await rest(ov, 'POST', `/v1/shop/${C}/buy`, { body: { sku: 'EXT-1', idempotency_key: 'b-3', viewer: shop.token } });
    assert.equal(r.status, 409);
    assert.equal(r.json.error, 'external_checkout');
    assert.equal(r.json.checkout_url, 'https://shop.example.com/ext-1');
  });
});
