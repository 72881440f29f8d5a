#!/usr/bin/env node
// cartcast-overlay's protocol, end to end: real redis-server, real overlay
// binaries (two of them where fan-out matters), viewers on Node's `ws`.
//   node tests/integration/test_overlay_ws.mjs        (CC_BUILD_DIR picks the build)
// The origin side (live edge, EXT-X-DATERANGE) is in test_overlay_timeline.py;
// here a fake live edge stands in for it (Stack.fakeLive).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import net from 'node:net';
import { hash, productCue, rest, sleep, Stack, TOKEN, Viewer, waitFor } from './overlay_lib.mjs';

const S = 'shop';

describe('cartcast-overlay', { timeout: 240000 }, () => {
  let stack, redis, a, b;

  before(async () => {
    stack = new Stack();
    redis = await stack.redis();
    const common = ['--operator-token', `${TOKEN}=${S},other`, '--operator-token', 'scoped-token-other=other',
      '--buy-rate', '3', '--buy-window-ms', '60000', '--max-conns-per-addr', '50', '--ping-interval-s', '1'];
    a = await stack.overlay(redis, common);
    b = await stack.overlay(redis, common);
    stack.fakeLive(redis, S);
    await redis.call('HSET', 'cc:{stream:other}:live', 'pdt_ms', Date.now(), 'live', 0, 'updated_ms', Date.now());
  });

  after(async () => { await stack.stop(); });

  it('REST: auth is checked before anything else (401 no/bad token, 403 other stream)', async () => {
    let r = await rest(a, 'POST', `/v1/streams/${S}/cues`, { body: productCue() });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate'), /Bearer/);
    r = await rest(a, 'POST', `/v1/streams/${S}/cues`, { token: 'not-the-token', body: productCue() });
    assert.equal(r.status, 401);
    assert.equal(r.json.error, 'unauthorized');
    r = await rest(a, 'POST', `/v1/streams/${S}/cues`, { token: 'scoped-token-other', body: productCue() });
    assert.equal(r.status, 403);
    assert.equal(r.json.error, 'forbidden');
    r = await rest(a, 'GET', `/v1/streams/${S}/cues`, { token: 'scoped-token-other' });
    assert.equal(r.status, 403);
  });

  it('REST: field-level validation errors (400)', async () => {
    const bad = { kind: 'product', product: { sku: 'has space', title: '', price: '12.99', currency: 'eur',
      image_url: 'javascript:alert(1)', extra: 1 }, duration_ms: 5, typo: true };
    const r = await rest(a, 'POST', `/v1/streams/${S}/cues`, { token: TOKEN, body: bad });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'validation');
    const fields = Object.fromEntries(r.json.fields.map((f) => [f.field, f.message]));
    for (const f of ['typo', 'duration_ms', 'product.extra', 'product.sku', 'product.title', 'product.price',
      'product.currency', 'product.image_url'])
      assert.ok(fields[f], `no error for ${f}: ${JSON.stringify(r.json)}`);
    assert.match(fields['product.price'], /minor units/);
    let q = await rest(a, 'POST', `/v1/streams/${S}/cues`, { token: TOKEN, body: '{not json' });
    assert.equal(q.status, 400);
    assert.match(q.json.message, /not valid JSON/);
    q = await rest(a, 'POST', `/v1/streams/${S}/cues`, { token: TOKEN, body: { kind: 'poll', poll: { question: 'Q?', options: ['a'] } } });
    assert.equal(q.status, 400);
    assert.equal(q.json.fields[0].field, 'poll.options');
    q = await rest(a, 'POST', `/v1/streams/${S}/cues`, { token: TOKEN, body: { kind: 'banner' } });
    assert.equal(q.json.fields[0].field, 'kind');
    q = await rest(a, 'POST', `/v1/streams/${S}/stock`, { token: TOKEN, body: { sku: 'A', stock: -1 } });
    assert.equal(q.status, 400);
    assert.equal(q.json.fields[0].field, 'stock');
  });

  it('REST: 404 for a stream no origin announced, 409 for one not live', async () => {
    let r = await rest(a, 'POST', '/v1/streams/other2/cues', { token: 'scoped-token-other', body: productCue() });
    assert.equal(r.status, 403);
    r = await rest(a, 'POST', '/v1/streams/nosuch/cues', { token: TOKEN, body: productCue() });
    assert.equal(r.status, 403); // scope first: the token is not for it
    const adm = await stack.overlay(redis, ['--operator-token', 'admin-token-1234=*']);
    r = await rest(adm, 'POST', '/v1/streams/nosuch/cues', { token: 'admin-token-1234', body: productCue() });
    assert.equal(r.status, 404);
    assert.equal(r.json.error, 'unknown_stream');
    r = await rest(adm, 'POST', '/v1/streams/other/cues', { token: 'admin-token-1234', body: productCue() });
    assert.equal(r.status, 409);
    assert.equal(r.json.error, 'not_live');
  });

  it('a cue reaches the viewers of two overlays; late joiners get it in hello', async () => {
    const va = await Viewer.open(a.ws(`/v1/streams/${S}/ws`));
    const vb = await Viewer.open(b.ws(`/v1/streams/${S}/ws`));
    const ha = await va.next('hello');
    await vb.next('hello');
    assert.match(ha.viewer, /^v[0-9a-f]{24}$/);
    assert.ok(Math.abs(ha.server_ms - Date.now()) < 2000);
    const t0 = Date.now();
    const r = await rest(a, 'POST', `/v1/streams/${S}/cues`, { token: TOKEN, body: { ...productCue('MUG-2'), duration_ms: 60000 } });
    assert.equal(r.status, 201, r.text);
    const cue = r.json;
    assert.match(cue.id, /^c[0-9a-f]{16}$/);
    const live = hash(await redis.call('HGETALL', `cc:{stream:${S}}:live`));
    assert.ok(Math.abs(cue.pdt_ms - Number(live.pdt_ms)) < 1000, 'stamped with the live edge');
    const [ma, mb] = await Promise.all([va.next((m) => m.type === 'cue' && m.cue.id === cue.id),
      vb.next((m) => m.type === 'cue' && m.cue.id === cue.id)]);
    assert.deepEqual(ma.cue, cue);
    assert.deepEqual(mb.cue, cue);
    console.log(`# cue reached overlay A in ${ma._t - t0} ms, overlay B in ${mb._t - t0} ms (REST call included)`);
    // late joiner, on B: hello carries the active cue
    const vl = await Viewer.open(b.ws(`/v1/streams/${S}/ws`));
    const hl = await vl.next('hello');
    assert.ok(hl.cues.some((c) => c.id === cue.id), JSON.stringify(hl));
    // listing and ending it
    const l = await rest(b, 'GET', `/v1/streams/${S}/cues`, { token: TOKEN });
    assert.ok(l.json.cues.some((c) => c.id === cue.id));
    const e = await rest(b, 'DELETE', `/v1/streams/${S}/cues/${cue.id}`, { token: TOKEN });
    assert.equal(e.status, 200, e.text);
    assert.equal(e.json.ended, true);
    const ea = await va.next((m) => m.type === 'cue_end' && m.id === cue.id);
    assert.ok(ea.end_pdt_ms >= cue.pdt_ms);
    await vb.next((m) => m.type === 'cue_end' && m.id === cue.id);
    const e2 = await rest(b, 'POST', `/v1/streams/${S}/cues/${cue.id}/end`, { token: TOKEN });
    assert.equal(e2.status, 404);
    for (const v of [va, vb, vl]) await v.close();
  });

  it('an Idempotency-Key makes a retried create return the same cue', async () => {
    const body = productCue('MUG-3');
    const h = { 'Idempotency-Key': 'create-mug-3-try' };
    const r1 = await rest(a, 'POST', `/v1/streams/${S}/cues`, { token: TOKEN, body, headers: h });
    const r2 = await rest(b, 'POST', `/v1/streams/${S}/cues`, { token: TOKEN, body, headers: h });
    assert.equal(r1.status, 201);
    assert.equal(r2.status, 200);
    assert.equal(r2.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(r2.json, r1.json);
    const r3 = await rest(a, 'POST', `/v1/streams/${S}/cues`, { token: TOKEN, body: productCue('OTHER'), headers: h });
    assert.equal(r3.status, 422);
    const act = await redis.call('HKEYS', `cc:{stream:${S}}:active`);
    assert.equal(act.filter((id) => id === r1.json.id).length, 1);
    await rest(a, 'DELETE', `/v1/streams/${S}/cues/${r1.json.id}`, { token: TOKEN });
  });

  it('buy -> an orders stream entry with the viewer identity, the cue and its price; rate limit', async () => {
    const cue = (await rest(a, 'POST', `/v1/streams/${S}/cues`, { token: TOKEN,
      body: { ...productCue('TEE-1', { price: 1999, creator: 'anna' }), duration_ms: 60000 } })).json;
    const v = await Viewer.open(b.ws(`/v1/streams/${S}/ws`));
    const hello = await v.next('hello');
    await waitFor(() => hello.cues.some((c) => c.id === cue.id) || v.msgs.some((m) => m.type === 'cue' && m.cue.id === cue.id), 3000, 'the cue');
    // a buy that claims another identity gets the connection's identity anyway
    v.send({ type: 'buy', cue_id: cue.id, sku: 'TEE-1', qty: 2, idempotency_key: 'tap-1', req: 'r1', viewer: 'vsomeoneelse' });
    const ack = await v.next((m) => m.req === 'r1');
    assert.equal(ack.type, 'ack', JSON.stringify(ack));
    assert.equal(ack.status, 'accepted');
    const entries = await redis.call('XRANGE', 'cc:{orders}:buys', ack.entry, ack.entry);
    const f = hash(entries[0][1]);
    assert.equal(f.viewer, hello.viewer);
    assert.equal(f.cue, cue.id);
    assert.equal(f.sku, 'TEE-1');
    assert.equal(f.qty, '2');
    assert.equal(f.price, '1999');
    assert.equal(f.currency, 'EUR');
    assert.equal(f.creator, 'anna');
    assert.equal(f.stream, S);
    assert.equal(f.idem, 'tap-1');
    assert.equal(f.req, 'r1');
    assert.ok(Math.abs(Number(f.ts) - Date.now()) < 5000);
    // refused before Redis: wrong sku, qty over the limit, no such cue
    v.send({ type: 'buy', cue_id: cue.id, sku: 'OTHER', qty: 1, idempotency_key: 'x', req: 'r2' });
    assert.equal((await v.next((m) => m.req === 'r2')).code, 'invalid');
    v.send({ type: 'buy', cue_id: cue.id, sku: 'TEE-1', qty: 11, idempotency_key: 'x', req: 'r3' });
    assert.equal((await v.next((m) => m.req === 'r3')).code, 'qty_limit');
    v.send({ type: 'buy', cue_id: 'c0000000000000000', sku: 'TEE-1', qty: 1, idempotency_key: 'x', req: 'r4' });
    assert.equal((await v.next((m) => m.req === 'r4')).code, 'cue_not_active');
    // --buy-rate 3: the third and fourth accepted taps... the fourth is refused
    for (const r of ['r5', 'r6']) v.send({ type: 'buy', cue_id: cue.id, sku: 'TEE-1', qty: 1, idempotency_key: r, req: r });
    assert.equal((await v.next((m) => m.req === 'r5')).status, 'accepted');
    assert.equal((await v.next((m) => m.req === 'r6')).status, 'accepted');
    v.send({ type: 'buy', cue_id: cue.id, sku: 'TEE-1', qty: 1, idempotency_key: 'r7', req: 'r7' });
    const rl = await v.next((m) => m.req === 'r7');
    assert.equal(rl.code, 'rate_limited');
    assert.ok(rl.retry_after_ms > 0 && rl.retry_after_ms <= 60000);
    const mine = (await redis.call('XRANGE', 'cc:{orders}:buys', '-', '+')).filter((e) => hash(e[1]).viewer === hello.viewer);
    assert.equal(mine.length, 3);
    // the order service's answer comes back to this viewer only
    const other = await Viewer.open(a.ws(`/v1/streams/${S}/ws`));
    await other.next('hello');
    await redis.call('XADD', 'cc:{orders}:events', '*', 'v', '1', 'status', 'confirmed', 'order', 'ord_1_TEE-1',
      'viewer', hello.viewer, 'req', 'r1', 'sku', 'TEE-1', 'qty', '2', 'stock', '7');
    const ev = await v.next('order');
    assert.equal(ev.status, 'confirmed');
    assert.equal(ev.order, 'ord_1_TEE-1');
    assert.equal(ev.req, 'r1');
    await sleep(300);
    assert.ok(!other.msgs.some((m) => m.type === 'order'));
    await v.close();
    await other.close();
  });

  it('a signed identity survives a reconnect (and to the other overlay); a forged one does not', async () => {
    const v1 = await Viewer.open(a.ws(`/v1/streams/${S}/ws`));
    const h1 = await v1.next('hello');
    await v1.close();
    const v2 = await Viewer.open(b.ws(`/v1/streams/${S}/ws?viewer=${encodeURIComponent(h1.token)}`));
    assert.equal((await v2.next('hello')).viewer, h1.viewer);
    const forged = h1.token.slice(0, 1) + (h1.token[1] === 'a' ? 'b' : 'a') + h1.token.slice(2);
    const v3 = await Viewer.open(b.ws(`/v1/streams/${S}/ws?viewer=${encodeURIComponent(forged)}`));
    assert.notEqual((await v3.next('hello')).viewer, h1.viewer);
    await v2.close();
    await v3.close();
  });

  it('votes count once per viewer; tallies reach every overlay', async () => {
    const r = await rest(a, 'POST', `/v1/streams/${S}/cues`, { token: TOKEN,
      body: { kind: 'poll', poll: { question: 'Which colour?', options: ['red', 'blue', 'green'] } } });
    assert.equal(r.status, 201, r.text);
    const poll = r.json;
    const v1 = await Viewer.open(a.ws(`/v1/streams/${S}/ws`));
    const v2 = await Viewer.open(b.ws(`/v1/streams/${S}/ws`));
    await v1.next('hello');
    await v2.next('hello');
    v1.send({ type: 'vote', poll_id: poll.id, option: 1, req: 'a1' });
    assert.equal((await v1.next((m) => m.req === 'a1')).status, 'counted');
    v1.send({ type: 'vote', poll_id: poll.id, option: 2, req: 'a2' });
    assert.equal((await v1.next((m) => m.req === 'a2')).code, 'already_voted');
    v2.send({ type: 'vote', poll_id: poll.id, option: 1, req: 'b1' });
    assert.equal((await v2.next((m) => m.req === 'b1')).status, 'counted');
    const t = await v1.next((m) => m.type === 'tally' && m.id === poll.id && m.counts[1] === 2, 3000, 'tally 0,2,0');
    assert.deepEqual(t.counts, [0, 2, 0]);
    await v2.next((m) => m.type === 'tally' && m.counts[1] === 2, 3000, 'tally on B');
    const h = hash(await redis.call('HGETALL', `cc:{stream:${S}}:polls`));
    assert.equal(h[`${poll.id}:1`], '2');
    assert.equal(h[`${poll.id}:2`], '0');
    // late joiner sees the tally; closing stops votes
    const v3 = await Viewer.open(b.ws(`/v1/streams/${S}/ws`));
    const h3 = await v3.next('hello');
    assert.deepEqual(h3.polls[poll.id], { open: true, counts: [0, 2, 0] });
    const c = await rest(a, 'POST', `/v1/streams/${S}/cues/${poll.id}/close`, { token: TOKEN });
    assert.equal(c.status, 200, c.text);
    assert.deepEqual(c.json.counts, [0, 2, 0]);
    await v3.next((m) => m.type === 'poll' && m.id === poll.id && m.open === false);
    v3.send({ type: 'vote', poll_id: poll.id, option: 0, req: 'c1' });
    assert.equal((await v3.next((m) => m.req === 'c1')).code, 'poll_closed');
    await rest(a, 'DELETE', `/v1/streams/${S}/cues/${poll.id}`, { token: TOKEN });
    for (const v of [v1, v2, v3]) await v.close();
  });

  it('stock: the operator sets it, every viewer sees it, hello carries it', async () => {
    const cue = (await rest(a, 'POST', `/v1/streams/${S}/cues`, { token: TOKEN, body: productCue('SOCK-1') })).json;
    const v = await Viewer.open(b.ws(`/v1/streams/${S}/ws`));
    await v.next('hello');
    const r = await rest(a, 'POST', `/v1/streams/${S}/stock`, { token: TOKEN, body: { sku: 'SOCK-1', stock: 3 } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.stock, 3);
    const m = await v.next((x) => x.type === 'stock' && x.sku === 'SOCK-1');
    assert.equal(m.stock, 3);
    assert.equal(hash(await redis.call('HGETALL', 'cc:{sku:SOCK-1}:stock')).avail, '3');
    const v2 = await Viewer.open(a.ws(`/v1/streams/${S}/ws`));
    const h = await v2.next('hello');
    await waitFor(async () => h.stock['SOCK-1'] === 3 || v2.msgs.some((x) => x.type === 'stock' && x.stock === 3), 3000, 'stock in hello');
    await rest(a, 'DELETE', `/v1/streams/${S}/cues/${cue.id}`, { token: TOKEN });
    await v.close();
    await v2.close();
  });

  it('an oversized message closes with 1009; binary with 1003; junk gets an error', async () => {
    const v = await Viewer.open(a.ws(`/v1/streams/${S}/ws`));
    await v.next('hello');
    v.send('{"type":"ping","req":"p1"}');
    assert.equal((await v.next('pong')).req, 'p1');
    v.send('[1,2');
    assert.equal((await v.next('error')).code, 'invalid');
    v.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(5000) }));
    const c = await v.closedP;
    assert.equal(c.code, 1009);
    const v2 = await Viewer.open(a.ws(`/v1/streams/${S}/ws`));
    await v2.next('hello');
    v2.ws.send(Buffer.from([1, 2, 3]));
    assert.equal((await v2.closedP).code, 1003);
    assert.ok(await a.metric('cartcast_overlay_closed_oversize_total') >= 1);
  });

  it('heartbeat: idle viewers get PINGs', async () => {
    const v = await Viewer.open(a.ws(`/v1/streams/${S}/ws`));
    await v.next('hello');
    await waitFor(() => v.pings > 0, 6000, 'a PING (--ping-interval-s 1)');
    await v.close();
  });

  it('unknown stream: close 4404; more than the per-address cap: close 1013', async () => {
    const u = new Viewer(a.ws('/v1/streams/never-announced/ws'));
    assert.equal((await u.closedP).code, 4404);
    assert.equal(await a.metric('cartcast_overlay_closed_unknown_stream_total'), 1);
    const ov = await stack.overlay(redis, ['--max-conns-per-addr', '3']);
    const vs = [];
    for (let i = 0; i < 3; i++) {
      vs.push(await Viewer.open(ov.ws(`/v1/streams/${S}/ws`)));
      await vs[i].next('hello');
    }
    const over = new Viewer(ov.ws(`/v1/streams/${S}/ws`));
    const c = await over.closedP;
    assert.equal(c.code, 1013);
    assert.match(c.reason, /too many connections/);
    assert.equal(await ov.metric('cartcast_overlay_refused_per_address_total'), 1);
    for (const v of vs) await v.close();
  });

  it('a slow client is dropped with 4008 (bounded queue); the others get everything', async () => {
    const ov = await stack.overlay(redis, ['--send-queue', '8', '--send-queue-kb', '32', '--operator-token', `${TOKEN}=${S}`,
      '--sndbuf-kb', '16']);
    const fast = await Viewer.open(ov.ws(`/v1/streams/${S}/ws`));
    await fast.next('hello');
    // the slow one: a raw socket that does the handshake, then never reads
    const slow = await new Promise((resolve, reject) => {
      const s = net.createConnection({ port: ov.port, host: '127.0.0.1' }, () => {
        s.write(`GET /v1/streams/${S}/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      });
      s.once('data', () => { s.pause(); resolve(s); });
      s.on('error', reject);
    });
    slow.setNoDelay(true);
    const big = { image_url: 'https://example.com/' + 'p'.repeat(2000), title: 'T'.repeat(200) };
    const ids = [];
    let dropped = 0;
    for (let i = 0; i < 400 && !dropped; i++) {
      const r = await rest(ov, 'POST', `/v1/streams/${S}/cues`, { token: TOKEN, body: productCue(`BIG-${i}`, big) });
      assert.equal(r.status, 201, r.text);
      await rest(ov, 'DELETE', `/v1/streams/${S}/cues/${r.json.id}`, { token: TOKEN });
      ids.push(r.json.id);
      if (i % 10 === 9) dropped = await ov.metric('cartcast_overlay_dropped_slow_clients_total');
    }
    await waitFor(async () => (await ov.metric('cartcast_overlay_dropped_slow_clients_total')) >= 1, 5000, 'the drop');
    assert.equal(await ov.metric('cartcast_overlay_dropped_slow_clients_total'), 1);
    console.log(`# slow client dropped after ${ids.length} cues of ~2.5 KB`);
    // the fast viewer got every cue, in order
    await fast.next((m) => m.type === 'cue_end' && m.id === ids[ids.length - 1], 10000, 'the last cue_end');
    const got = fast.msgs.filter((m) => m.type === 'cue').map((m) => m.cue.id);
    assert.deepEqual(got, ids);
    // the slow one, once it reads again, finds the close frame with 4008 after what was already sent
    const closeCode = await new Promise((resolve) => {
      let buf = Buffer.alloc(0);
      slow.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        // walk the frames (server frames are unmasked)
        let o = 0;
        while (o + 2 <= buf.length) {
          const op = buf[o] & 15;
          let len = buf[o + 1] & 127;
          let h = 2;
          if (len === 126) { if (o + 4 > buf.length) break; len = buf.readUInt16BE(o + 2); h = 4; }
          else if (len === 127) { if (o + 10 > buf.length) break; len = Number(buf.readBigUInt64BE(o + 2)); h = 10; }
          if (o + h + len > buf.length) break;
          if (op === 8) { resolve(buf.readUInt16BE(o + h)); return; }
          o += h + len;
        }
      });
      slow.on('close', () => resolve(null));
      slow.resume();
    });
    assert.equal(closeCode, 4008);
    slow.destroy();
    await fast.close();
  });
});
