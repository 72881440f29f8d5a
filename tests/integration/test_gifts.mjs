#!/usr/bin/env node
// Virtual gifts end to end (docs/gifts-and-shop.md): real redis-server, two real
// cartcast-overlay processes with a gift catalog, viewers on Node's `ws`.
//   node tests/integration/test_gifts.mjs        (CC_BUILD_DIR picks the build)
// The ledger checks read Redis directly: no balance below zero, every coin
// debited is split exactly into creator + platform coins at the configured share,
// a retried idempotency key counts once, the leaderboard equals the ledger.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import path from 'node:path';
import { hash, rest, ROOT, Stack, TOKEN, Viewer, waitFor } from './overlay_lib.mjs';

const S = 'anna';
const ADMIN = 'admin-token-for-tests';
const GIFTS = path.join(ROOT, 'commerce-overlay', 'gifts.example.json'); // heart 1, rose 5, rocket 99; share 70
const PRICE = { heart: 1, rose: 5, rocket: 99 };
const SHARE = 70;
const creatorPart = (coins) => Math.floor(coins * SHARE / 100);

async function viewerOn(ov, stream = S) {
  const v = await Viewer.open(ov.ws(`/v1/streams/${stream}/ws`));
  v.hello = await v.next('hello');
  v.gifts = await v.next('gifts');
  return v;
}

function zmap(flat) {
  const o = {};
  for (let i = 0; i < flat.length; i += 2) o[flat[i]] = Number(flat[i + 1]);
  return o;
}

describe('gifts', { timeout: 240000 }, () => {
  let stack, redis, a, b;

  before(async () => {
    stack = new Stack();
    redis = await stack.redis();
    const common = ['--gifts', GIFTS, '--operator-token', `${TOKEN}=${S}`, '--operator-token', `${ADMIN}=*`,
      '--max-conns-per-addr', '500', '--msg-rate', '1000'];
    a = await stack.overlay(redis, common);
    b = await stack.overlay(redis, common);
    stack.fakeLive(redis, S);
  });

  after(async () => { await stack.stop(); });

  it('refuses a broken gift catalog with a clear message', async () => {
    const { spawnSync } = await import('node:child_process');
    const { writeFileSync } = await import('node:fs');
    const bad = path.join(stack.dir, 'bad-gifts.json');
    writeFileSync(bad, JSON.stringify({ creator_share_pct: 120, gifts: [] }));
    const bin = path.join(process.env.CC_BUILD_DIR || path.join(ROOT, 'build'), 'cartcast-overlay');
    let r = spawnSync(bin, ['--gifts', bad, '--http-port', '0'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--gifts .*bad-gifts\.json: creator_share_pct: must be an integer 0-100/);
    writeFileSync(bad, JSON.stringify({ creator_share_pct: 50, gifts: [{ id: 'a b', name: 'x', price: 1 }] }));
    r = spawnSync(bin, ['--gifts', bad, '--http-port', '0'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /gifts\[0\]\.id: must be/);
    r = spawnSync(bin, ['--help'], { encoding: 'utf8' });
    assert.match(r.stdout + r.stderr, /--gifts FILE/);
  });

  it('hello is followed by the catalog and the balance; coins are credited by an admin only', async () => {
    const v = await viewerOn(a);
    assert.deepEqual(v.gifts.catalog.map((g) => [g.id, g.price]), [['heart', 1], ['rose', 5], ['rocket', 99]]);
    assert.equal(v.gifts.balance, 0);
    assert.equal(v.gifts.creator_share_pct, SHARE);
    const me = v.hello.viewer;
    let r = await rest(a, 'POST', `/v1/viewers/${me}/coins`, { body: { add: 10 } });
    assert.equal(r.status, 401);
    r = await rest(a, 'POST', `/v1/viewers/${me}/coins`, { token: TOKEN, body: { add: 10 } });
    assert.equal(r.status, 403, 'a stream operator may not mint coins');
    r = await rest(a, 'POST', `/v1/viewers/${me}/coins`, { token: ADMIN, body: { add: 1.5 } });
    assert.equal(r.status, 400);
    assert.equal(r.json.fields[0].field, 'add');
    r = await rest(a, 'POST', `/v1/viewers/${me}/coins`, { token: ADMIN, body: { add: -1 } });
    assert.equal(r.status, 409);
    assert.equal(r.json.error, 'insufficient_coins');
    r = await rest(a, 'POST', `/v1/viewers/${me}/coins`, { token: ADMIN, body: { add: 7 } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { viewer: me, balance: 7 });
    // the viewer's page learns it at once (a 'kind coins' entry on the events stream)
    const pushed = await v.next('balance');
    assert.equal(pushed.balance, 7);
    assert.equal(pushed.credited, 7);
    r = await rest(b, 'GET', `/v1/viewers/${me}/coins`, { token: ADMIN });
    assert.deepEqual(r.json, { viewer: me, balance: 7 });
    // the same credit from the command line: cartcast-orders coins add VIEWER N
    const { spawnSync } = await import('node:child_process');
    const orders = path.join(process.env.CC_BUILD_DIR || path.join(ROOT, 'build'), 'cartcast-orders');
    let p = spawnSync(orders, ['coins', 'add', me, '3', '--redis', redis.url], { encoding: 'utf8' });
    assert.equal(p.status, 0, p.stderr);
    assert.deepEqual(JSON.parse(p.stdout), { viewer: me, balance: 10 });
    assert.equal((await v.next('balance')).balance, 10);
    p = spawnSync(orders, ['coins', 'add', me, '-11', '--redis', redis.url], { encoding: 'utf8' });
    assert.equal(p.status, 1);
    assert.match(p.stderr, /refused, the balance would be -1/);
    p = spawnSync(orders, ['coins', 'add', me, '2.5', '--redis', redis.url], { encoding: 'utf8' });
    assert.equal(p.status, 2);
    assert.match(p.stderr, /N must be a non-zero whole number/);
    p = spawnSync(orders, ['coins', 'get', me, '--redis', redis.url], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(p.stdout), { viewer: me, balance: 10 });
    await rest(a, 'POST', `/v1/viewers/${me}/coins`, { token: ADMIN, body: { add: -10 } });
    await v.close();
  });

  it('a gift: ack to the sender, animation message to the room on both overlays, leaderboard, retry counts once', async () => {
    const sender = await viewerOn(a);
    const watcherA = await viewerOn(a);
    const watcherB = await viewerOn(b);
    const me = sender.hello.viewer;
    await rest(a, 'POST', `/v1/viewers/${me}/coins`, { token: ADMIN, body: { add: 12 } });

    sender.send({ type: 'gift', gift: 'rocket', idempotency_key: 'g-1', req: 'r1' });
    let e = await sender.next((m) => m.type === 'error' && m.action === 'gift');
    assert.equal(e.code, 'insufficient_coins');
    assert.equal(e.balance, 12);
    assert.equal(e.req, 'r1');

    sender.send({ type: 'gift', gift: 'rose', idempotency_key: 'g-2', req: 'r2' });
    const ack = await sender.next((m) => m.type === 'ack' && m.action === 'gift');
    assert.equal(ack.status, 'sent');
    assert.equal(ack.balance, 7);
    assert.equal(ack.dup, false);
    assert.equal(ack.req, 'r2');
    for (const w of [watcherA, watcherB, sender]) {
      const g = await w.next((m) => m.type === 'gift' && m.viewer === me);
      assert.equal(g.gift, 'rose');
      assert.equal(g.name, 'Rose');
      assert.equal(g.coins, 5);
      assert.equal(g.image, '/static/gift-rose.svg');
    }
    const lb = await watcherB.next((m) => m.type === 'leaderboard' && m.top.some((t) => t.viewer === me));
    assert.equal(lb.top.find((t) => t.viewer === me).coins, 5);

    // the same key again (a retry after a lost ack): the first answer, nothing debited twice
    sender.send({ type: 'gift', gift: 'rose', idempotency_key: 'g-2', req: 'r3' });
    const again = await sender.next((m) => m.type === 'ack' && m.req === 'r3');
    assert.equal(again.dup, true);
    assert.equal(again.balance, 7);
    assert.equal(Number(await redis.call('HGET', 'cc:{orders}:coins', me)), 7);
    const events = await redis.call('XRANGE', 'cc:{orders}:events', '-', '+');
    const mine = events.map(([, fv]) => hash(fv)).filter((f) => f.kind === 'gift' && f.viewer === me);
    assert.equal(mine.length, 1, 'one events-stream entry per gift');
    assert.equal(mine[0].status, 'gift');
    assert.equal(mine[0].creator, S);
    assert.equal(mine[0].stream, S);
    assert.equal(Number(mine[0].coins), 5);
    assert.equal(Number(mine[0].creator_coins), creatorPart(5));
    assert.equal(Number(mine[0].platform_coins), 5 - creatorPart(5));

    // Redis lost its scripts (restart, SCRIPT FLUSH): EVALSHA's NOSCRIPT is retried as EVAL
    await redis.call('SCRIPT', 'FLUSH');
    sender.send({ type: 'gift', gift: 'heart', idempotency_key: 'g-5', req: 'r7' });
    const afterFlush = await sender.next((m) => m.req === 'r7');
    assert.equal(afterFlush.type, 'ack', JSON.stringify(afterFlush));
    assert.equal(afterFlush.balance, 6);
    assert.equal(Number(await redis.call('HGET', 'cc:{orders}:coins', me)), 6);

    // mistakes are answered to the sender only
    sender.send({ type: 'gift', gift: 'unicorn', idempotency_key: 'g-3', req: 'r4' });
    e = await sender.next((m) => m.type === 'error' && m.req === 'r4');
    assert.equal(e.code, 'unknown_gift');
    sender.send({ type: 'gift', gift: 'rose', req: 'r5' });
    e = await sender.next((m) => m.type === 'error' && m.req === 'r5');
    assert.equal(e.code, 'invalid');
    assert.match(e.message, /idempotency_key/);
    sender.send({ type: 'gift', gift: 'rose', idempotency_key: 'g-4', viewer: 'someone-else', req: 'r6' });
    e = await sender.next((m) => m.type === 'error' && m.req === 'r6');
    assert.match(e.message, /viewer: unknown field/);
    for (const v of [sender, watcherA, watcherB]) await v.close();
  });

  it('1,000 concurrent gifts from 100 viewers: exact ledger, nobody below zero, retries once, leaderboard = ledger',
    async () => {
      const stream = 'bigroom';
      stack.fakeLive(redis, stream);
      await redis.call('DEL', 'cc:{orders}:gifts:total', `cc:{orders}:earnings:creator:${stream}`);
      const totalBefore = hash(await redis.call('HGETALL', 'cc:{orders}:gifts:total'));
      const viewers = [];
      for (let i = 0; i < 100; i++) viewers.push(await viewerOn(i % 2 ? b : a, stream));
      const watcher = await viewerOn(a, stream);
      // balances that cover only some of each viewer's gifts (0..150 coins for gifts worth ~10 x 35)
      const credit = {};
      let seed = 12345;
      const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
      await Promise.all(viewers.map(async (v, i) => {
        const id = v.hello.viewer;
        credit[id] = i % 10 === 0 ? 0 : rnd(151);
        if (credit[id] > 0)
          assert.equal((await rest(a, 'POST', `/v1/viewers/${id}/coins`, { token: ADMIN, body: { add: credit[id] } })).status, 200);
      }));
      const kinds = Object.keys(PRICE);
      const sent = viewers.map(() => []);
      const plan = viewers.map((v, i) => Array.from({ length: 10 }, (_, k) => ({ gift: kinds[rnd(3)], idempotency_key: `v${i}-k${k}`, req: `q${k}` })));
      // every viewer fires its 10 gifts at once, plus a retry of its first key: 1,000 gifts + 100 retries in flight
      const answers = await Promise.all(viewers.map(async (v, i) => {
        for (const g of plan[i]) v.send({ type: 'gift', ...g });
        v.send({ type: 'gift', ...plan[i][0], req: 'retry' });
        const out = [];
        for (let k = 0; k < 11; k++)
          out.push(await v.next((m) => (m.type === 'ack' || m.type === 'error') && m.action === 'gift', 60000));
        return out;
      }));
      let debitedByAcks = 0, creatorByAcks = 0, nSent = 0, nInsufficient = 0;
      const perViewer = {};
      answers.forEach((list, i) => {
        const id = viewers[i].hello.viewer;
        const firstKey = list.filter((m) => m.req === 'q0');
        const retry = list.filter((m) => m.req === 'retry');
        assert.equal(firstKey.length, 1);
        assert.equal(retry.length, 1);
        for (const m of list) {
          if (m.req === 'retry') continue;
          if (m.type === 'ack') {
            assert.equal(m.dup, false);
            nSent++;
            debitedByAcks += m.coins;
            creatorByAcks += creatorPart(m.coins);
            perViewer[id] = (perViewer[id] || 0) + m.coins;
            sent[i].push(m);
          } else {
            assert.equal(m.code, 'insufficient_coins', JSON.stringify(m));
            nInsufficient++;
          }
        }
        // the retry of key 0 repeats its first answer (a sent gift comes back as dup) and never debits again
        if (firstKey[0].type === 'ack') assert.equal(retry[0].type === 'ack' ? retry[0].dup : null, true);
        assert.ok(retry[0].type === 'ack' || retry[0].code === 'insufficient_coins');
      });
      assert.equal(nSent + nInsufficient, 1000);
      assert.ok(nSent > 100 && nInsufficient > 100, `balances cover only some gifts (sent ${nSent}, refused ${nInsufficient})`);

      const balances = hash(await redis.call('HGETALL', 'cc:{orders}:coins'));
      let debitedByBalances = 0;
      for (const v of viewers) {
        const id = v.hello.viewer;
        const bal = Number(balances[id] || 0);
        assert.ok(bal >= 0, `${id} below zero: ${bal}`);
        assert.equal(credit[id] - bal, perViewer[id] || 0, `${id}: debited = the coins of its acknowledged gifts`);
        debitedByBalances += credit[id] - bal;
      }
      assert.equal(debitedByBalances, debitedByAcks);
      const total = hash(await redis.call('HGETALL', 'cc:{orders}:gifts:total'));
      assert.equal(Number(total.coins), debitedByAcks);
      assert.equal(Number(total.gifts), nSent);
      assert.equal(Number(total.creator), creatorByAcks, 'creator coins = floor(price x share) summed per gift');
      assert.equal(Number(total.creator) + Number(total.platform), Number(total.coins), 'no coin lost or made');
      assert.equal(Number(total.credited) - Number(totalBefore.credited || 0),
        Object.values(credit).reduce((x, y) => x + y, 0));
      const earn = hash(await redis.call('HGETALL', `cc:{orders}:earnings:creator:${stream}`));
      assert.equal(Number(earn.gift_earnings), creatorByAcks);
      assert.equal(Number(earn.gift_coins), debitedByAcks);
      // the leaderboard is the ledger
      const top = zmap(await redis.call('ZRANGE', `cc:{orders}:gifts:top:${stream}`, 0, -1, 'WITHSCORES'));
      assert.deepEqual(top, perViewer);
      // one events-stream entry per gift, each key once
      const ev = (await redis.call('XRANGE', 'cc:{orders}:events', '-', '+')).map(([, fv]) => hash(fv))
        .filter((f) => f.kind === 'gift' && f.stream === stream);
      assert.equal(ev.length, nSent);
      assert.equal(new Set(ev.map((f) => `${f.viewer}/${f.idem}`)).size, nSent);
      // the creator's earnings report puts gifts beside sales
      const rep = await rest(b, 'GET', `/v1/creators/${stream}/earnings`, { token: ADMIN });
      assert.equal(rep.status, 200);
      assert.equal(rep.json.gifts.coins, debitedByAcks);
      assert.equal(rep.json.gifts.creator_coins, creatorByAcks);
      assert.equal(rep.json.gifts.platform_coins, debitedByAcks - creatorByAcks);
      assert.equal(rep.json.gifts.gifts, nSent);
      assert.deepEqual(rep.json.sales, { orders: 0, units: 0, amount: {}, commission: {} });
      // the watcher saw every gift and, in the end, the top 10 of the ledger
      await waitFor(() => watcher.msgs.filter((m) => m.type === 'gift').length === nSent, 30000, 'every gift broadcast');
      const want = Object.entries(perViewer).sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? 1 : -1)).slice(0, 10);
      await waitFor(() => {
        const lbs = watcher.msgs.filter((m) => m.type === 'leaderboard');
        const last = lbs[lbs.length - 1];
        return last && JSON.stringify(last.top.map((t) => t.coins)) === JSON.stringify(want.map((w) => w[1]));
      }, 10000, 'the leaderboard to match the ledger');
      for (const v of [...viewers, watcher]) await v.close();
    });
});
