#!/usr/bin/env node
// The viewer page (commerce-overlay/web/) in Debian's headless Chromium, with
// a live stream: waits for playback, pins cues through the overlay's REST API
// and records, for each card, the PDT of the video frame on which it was
// drawn minus the cue's PDT. Prints JSON; used by test_overlay_timeline.py.
//
//   node tests/integration/overlay_browser.mjs --overlay http://127.0.0.1:8090 --origin http://127.0.0.1:8080
//        --stream shop --token TOKEN [--screenshot FILE.png] [--seconds 40] [--buy]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CHROMIUM_ARGS } from './hls_player.mjs';

const CHROMIUM = process.env.CC_CHROMIUM || '/usr/bin/chromium';
const a = { seconds: 45, screenshot: null, buy: false };
for (let i = 2; i < process.argv.length; i++) {
  const k = process.argv[i];
  if (k === '--buy') a.buy = true;
  else if (k === '--expect-confirm') a['expect-confirm'] = true;
  else a[k.replace(/^--/, '')] = process.argv[++i];
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => process.stderr.write(`overlay_browser: ${s}\n`);

async function rest(method, p, body) {
  const r = await fetch(a.overlay + p, { method, headers: { Authorization: `Bearer ${a.token}` },
    body: body ? JSON.stringify(body) : undefined });
  const j = await r.json().catch(() => null);
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}

async function main() {
  const deadline = Date.now() + Number(a.seconds) * 1000;
  const { chromium } = await import('playwright-core');
  const profile = await mkdtemp(path.join(tmpdir(), 'cc-chromium-'));
  let ctx;
  const out = { syncs: [], cues: [], console: [] };
  try {
    ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
      viewport: { width: 960, height: 540 } });
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on('console', (m) => { if (m.type() === 'error' && out.console.length < 30) out.console.push(m.text()); });
    page.on('pageerror', (e) => out.console.push('pageerror: ' + e.message));
    const url = `${a.overlay}/watch/${encodeURIComponent(a.stream)}?origin=${encodeURIComponent(a.origin)}`;
    await page.goto(url, { waitUntil: 'load', timeout: 30000 });
    // playing for 2 s with a PDT clock and the WebSocket up
    let t0 = null;
    while (Date.now() < deadline) {
      const s = await page.evaluate(() => ({ c: window.ccOverlay.state.connected, pdt: window.ccOverlay.state.clockPdt,
        t: document.getElementById('video').currentTime, via: window.ccOverlay.state.via }));
      if (s.c && s.pdt && s.t > 0) {
        if (t0 === null) t0 = s.t;
        if (s.t - t0 >= 2) { out.via = s.via; break; }
      }
      await sleep(200);
    }
    if (t0 === null) throw new Error('the page never played with a PDT clock and a WebSocket');
    out.lagMs = await page.evaluate(() => Date.now() - window.ccOverlay.state.clockPdt);
    log(`playing; video is ${out.lagMs} ms behind the wall clock; clock via ${out.via}`);
    const img = `${a.overlay}/static/mug.svg`;
    const made = [
      await rest('POST', `/v1/streams/${a.stream}/cues`, { kind: 'product', duration_ms: 60000,
        product: { sku: 'MUG-RED', title: 'Red mug <b>not bold</b>', price: 1299, currency: 'EUR', image_url: img, stock_shown: true } }),
      await rest('POST', `/v1/streams/${a.stream}/cues`, { kind: 'poll', poll: { question: 'Which colour next?', options: ['Red', 'Blue', 'Green'] } }),
      await rest('POST', `/v1/streams/${a.stream}/cues`, { kind: 'countdown', countdown: { title: 'Flash sale ends in', seconds: 120, sku: 'MUG-RED' } }),
    ];
    out.cues = made.map((c) => ({ id: c.id, kind: c.kind, pdt_ms: c.pdt_ms }));
    const want = new Set(made.map((c) => c.id));
    while (Date.now() < deadline) {
      out.syncs = await page.evaluate(() => window.ccOverlay.state.syncs);
      if (out.syncs.filter((s) => want.has(s.id)).length === want.size) break;
      await sleep(100);
    }
    // the DOM holds the title as text, not markup
    out.titleText = await page.evaluate(() => { const t = document.querySelector('.card.product .title'); return t ? t.textContent : null; });
    out.boldElements = await page.evaluate(() => document.querySelectorAll('#cards b').length);
    if (a.buy) {
      // tap buy: "Order received…" at once (the overlay's ack), then the order
      // service's answer ("Confirmed · order …") when one runs (--expect-confirm)
      await page.click('.card.product button.buy');
      const want = a['expect-confirm'] ? /Confirmed/ : /Confirmed|Sold out|received|unavailable|limit/i;
      const end = Math.min(deadline, Date.now() + 10000);
      while (Date.now() < end) {
        out.buyResult = await page.evaluate(() => { const r = document.querySelector('.card.product .result'); return r ? r.textContent : null; });
        if (out.buyResult && want.test(out.buyResult)) break;
        await sleep(100);
      }
      await page.click('.card.poll button.opt');
      await sleep(600);
    }
    if (a.screenshot) await page.screenshot({ path: a.screenshot });
    out.viewer = await page.evaluate(() => window.ccOverlay.state.viewer);
    out.hlsjs = await page.evaluate(() => window.Hls && window.Hls.version);
    out.browser = ctx.browser() ? ctx.browser().version() : null;
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    await rm(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

main().catch((e) => { log(e.stack || String(e)); process.exit(2); });
