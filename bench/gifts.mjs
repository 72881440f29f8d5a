#!/usr/bin/env node
// Gifts end to end at a target rate (issue 9: 5,000 gifts per second on local Redis
// with exact ledgers). docs/benchmarks.md has the figures; docs/gifts-and-shop.md the design.
//
// Setup: redis-server and --overlays cartcast-overlay processes (--gifts
// commerce-overlay/gifts.example.json: heart 1, rose 5, rocket 99 coins; creator share 70 %)
// on free 127.0.0.1 ports, from the build in CC_BUILD_DIR (default build/); --streams
// rooms per overlay with --per-room viewers each, every viewer credited enough coins
// for the whole run through the admin REST call.
//
// Load: every millisecond tick sends the gifts due by then (rate x elapsed), round robin
// over the viewers, each with a fresh idempotency key. A gift's latency is from its send
// to its ack (the overlay's EVAL of gift.lua: debit, creator credit, record, leaderboard,
// events-stream entry, all in one step). Every room also gets each gift's broadcast, as
// in production. The run then checks the ledger exactly: coins debited (balances) =
// coins in the acks = gifts:total coins = creator + platform; the creator part equals
// floor(price x 70 / 100) summed per gift; the leaderboards sum to the coins; one
// events-stream entry per gift.
//
//   node bench/gifts.mjs                                  # 5,000/s for 10 s
//   node bench/gifts.mjs --rate 8000 --seconds 10 --overlays 2
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { hash, rest, ROOT, Stack, Viewer } from '../tests/integration/overlay_lib.mjs';

const opt = { rate: 5000, seconds: 10, overlays: 2, streams: 10, 'per-room': 4 };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opt)) { console.error(`unknown option --${k} (${Object.keys(opt).join(', ')})`); process.exit(2); }
  opt[k] = Number(process.argv[i + 1]);
}
const PRICE = { heart: 1, rose: 5, rocket: 99 };
const KINDS = ['heart', 'rose', 'heart', 'rocket', 'rose', 'heart'];
const ADMIN = 'bench-admin-token';
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))];
// utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15, clock ticks of 1/100 s)
const cpuOf = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

async function main() {
  const stack = new Stack();
  try {
    const redis = await stack.redis();
    const ovs = [];
    for (let i = 0; i < opt.overlays; i++)
      ovs.push(await stack.overlay(redis, ['--gifts', path.join(ROOT, 'commerce-overlay', 'gifts.example.json'),
        '--operator-token', `${ADMIN}=*`, '--msg-rate', '100000', '--max-conns-per-addr', '100000',
        // each viewer also gets every gift of its room: room for a client that reads late
        '--send-queue', '1024', '--send-queue-kb', '8192', '--log-level', 'warn']));
    const viewers = [];
    for (let o = 0; o < opt.overlays; o++)
      for (let s = 0; s < opt.streams; s++) {
        const room = `room${o}x${s}`;
        await redis.call('HSET', `cc:{stream:${room}}:live`, 'pdt_ms', Date.now(), 'live', 1, 'updated_ms', Date.now());
        stack.fakeLive(redis, room, { every: 1000 });
        for (let k = 0; k < opt['per-room']; k++) {
          const v = await Viewer.open(ovs[o].ws(`/v1/streams/${room}/ws`));
          v.hello = await v.next('hello');
          await v.next('gifts');
          v.room = room;
          viewers.push(v);
        }
      }
    const total = Math.round(opt.rate * opt.seconds);
    const perViewer = Math.ceil(total / viewers.length) * 99 + 99;
    await Promise.all(viewers.map((v) => rest(ovs[0], 'POST', `/v1/viewers/${v.hello.viewer}/coins`,
      { token: ADMIN, body: { add: perViewer } })));
    // answers: matched by req; the inbox of each viewer is drained as we go
    const sentAt = new Map();
    const lat = [];
    let acked = 0, refused = 0, retried = 0, coinsAcked = 0, creatorExpected = 0;
    const sentMsg = new Map();
    const tries = new Map();
    const perRoomCoins = {};
    for (const v of viewers) {
      v.ws.removeAllListeners('message');
      v.ws.on('message', (d) => {
        const m = JSON.parse(d.toString());
        if (m.action !== 'gift') return;
        if (m.type === 'error' && m.code === 'unavailable') {
          // Redis did not answer in time: the gift may or may not be recorded. Retry with the
          // same key, as the page would: the answer is then the recorded one (dup) or a new one.
          // Backing off (250 ms, doubling, at most 2 s) so that an overloaded Redis is not flooded.
          retried++;
          const n = (tries.get(m.req) || 0) + 1;
          tries.set(m.req, n);
          setTimeout(() => v.ws.send(sentMsg.get(m.req)), Math.min(2000, 250 * 2 ** (n - 1)));
          return;
        }
        const t0 = sentAt.get(m.req);
        sentAt.delete(m.req);
        sentMsg.delete(m.req);
        tries.delete(m.req);
        if (m.type === 'ack') {
          acked++;
          coinsAcked += m.coins;
          creatorExpected += Math.floor(m.coins * 70 / 100);
          perRoomCoins[v.room] = (perRoomCoins[v.room] || 0) + m.coins;
          lat.push(performance.now() - t0);
        } else {
          refused++;
        }
      });
    }
    const before = hash(await redis.call('HGETALL', 'cc:{orders}:gifts:total'));
    const cpu0 = process.cpuUsage();
    const redisPid = stack.procs.find((x) => x.redis).p.pid;
    const ovPids = stack.procs.filter((x) => !x.redis).map((x) => x.p.pid);
    const redisCpu0 = cpuOf(redisPid), ovCpu0 = ovPids.map(cpuOf).reduce((x, y) => x + y, 0);
    const start = performance.now();
    let sent = 0;
    await new Promise((resolve) => {
      const tick = () => {
        const due = Math.min(total, Math.floor((performance.now() - start) / 1000 * opt.rate));
        while (sent < due) {
          const v = viewers[sent % viewers.length];
          const req = `b${sent}`;
          const msg = JSON.stringify({ type: 'gift', gift: KINDS[sent % KINDS.length], idempotency_key: `k${sent}`, req });
          sentAt.set(req, performance.now());
          sentMsg.set(req, msg);
          v.ws.send(msg);
          sent++;
        }
        if (sent < total) setTimeout(tick, 1); else resolve();
      };
      tick();
    });
    const sendEnd = performance.now();
    const deadline = Date.now() + 60000;
    while (acked + refused < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const end = performance.now();
    const cpu = process.cpuUsage(cpu0);
    const redisCpu = cpuOf(redisPid) - redisCpu0, ovCpu = ovPids.map(cpuOf).reduce((x, y) => x + y, 0) - ovCpu0;

    // -- the ledger, exactly
    const after = hash(await redis.call('HGETALL', 'cc:{orders}:gifts:total'));
    const balances = hash(await redis.call('HGETALL', 'cc:{orders}:coins'));
    let debited = 0;
    for (const v of viewers) debited += perViewer - Number(balances[v.hello.viewer]);
    const dCoins = Number(after.coins) - Number(before.coins || 0);
    const dCreator = Number(after.creator) - Number(before.creator || 0);
    const dPlatform = Number(after.platform) - Number(before.platform || 0);
    let topSum = 0, roomsMatch = true;
    const rooms = [...new Set(viewers.map((v) => v.room))];
    for (const room of rooms) {
      const z = await redis.call('ZRANGE', `cc:{orders}:gifts:top:${room}`, 0, -1, 'WITHSCORES');
      let s = 0;
      for (let i = 1; i < z.length; i += 2) s += Number(z[i]);
      roomsMatch &&= s === (perRoomCoins[room] || 0);
      topSum += s;
    }
    // the events stream, entry by entry: coins and the creator's floor per gift
    let evGifts = 0, evCoins = 0, evCreator = 0, from = '-';
    for (;;) {
      const page = await redis.call('XRANGE', 'cc:{orders}:events', from, '+', 'COUNT', 5000);
      for (const [id, fv] of page) {
        if (id === from) continue;
        const f = hash(fv);
        if (f.kind !== 'gift') continue;
        evGifts++;
        evCoins += Number(f.coins);
        evCreator += Number(f.creator_coins);
        if (Number(f.creator_coins) !== Math.floor(Number(f.coins) * 70 / 100)) throw new Error(`entry ${id}: bad split`);
      }
      if (page.length < 5000) break;
      from = page[page.length - 1][0];
    }
    const dropped = viewers.filter((v) => v.closed).length;
    const checks = {
      // inside Redis: every ledger agrees with every other
      debited_eq_total: debited === dCoins,
      split_exact: dCreator + dPlatform === dCoins,
      events_eq_total: evCoins === dCoins && evCreator === dCreator && evGifts === Number(after.gifts) - Number(before.gifts || 0),
      leaderboards_eq_total: topSum === dCoins,
      // and what the viewers were told
      all_answered: acked + refused === total && dropped === 0,
      none_refused: refused === 0,
      acks_eq_total: coinsAcked === dCoins && creatorExpected === dCreator,
      acks_eq_leaderboards: roomsMatch,
    };
    lat.sort((x, y) => x - y);
    const out = {
      target_rate: opt.rate, seconds: opt.seconds, overlays: opt.overlays, rooms: rooms.length, viewers: viewers.length,
      gifts: total, acked, refused, retried_unavailable: retried, viewers_dropped: dropped,
      send_rate: Math.round(total / ((sendEnd - start) / 1000)),
      ack_rate: Math.round(acked / ((end - start) / 1000)),
      ack_ms: { p50: +pct(lat, 0.5).toFixed(2), p99: +pct(lat, 0.99).toFixed(2), max: +lat[lat.length - 1].toFixed(2) },
      coins: dCoins, creator_coins: dCreator, platform_coins: dPlatform,
      client_cpu_s: +((cpu.user + cpu.system) / 1e6).toFixed(2),
      // CPU per acknowledged gift, during the load (the room broadcasts included)
      redis_us_per_gift: Math.round(redisCpu * 1e6 / Math.max(1, acked)),
      overlays_us_per_gift: Math.round(ovCpu * 1e6 / Math.max(1, acked)),
      ledger_exact: Object.values(checks).every(Boolean), checks,
    };
    console.log(JSON.stringify(out, null, 1));
    for (const v of viewers) await v.close();
    if (!out.ledger_exact) process.exitCode = 1;
  } finally {
    await stack.stop();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
