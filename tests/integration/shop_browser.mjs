#!/usr/bin/env node
// The shop page and the viewer page's gifts in Debian's headless Chromium
// (docs/gifts-and-shop.md). Used by test_shop_browser.py, which starts the
// stack (redis-server, origin --redis, overlay, orders, ffmpeg) and checks Redis.
//
//   node tests/integration/shop_browser.mjs --overlay URL --origin URL --creator anna --admin TOKEN
//        --ready-file FILE --live-file FILE --token TOKEN --pin-sku SKU [--shop-shot FILE.png] [--gift-shot FILE.png]
// Prints JSON: what the pages showed and did.
//   phase 1: /shop/CREATOR before the stream is live: products listed, no badge; it then
//            writes --ready-file, waits for --live-file (the test started ffmpeg) and for the badge.
//   phase 2: a buy from the shop page, confirmed on the page.
//   phase 3: /watch/CREATOR: coins credited to the page's viewer (admin REST), a gift
//            clicked, the animation on screen, the leaderboard shown.
//   phase 4: /operator with --token: the catalog listed, one click on "Pin" pins a product card.
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CHROMIUM_ARGS } from './hls_player.mjs';

const CHROMIUM = process.env.CC_CHROMIUM || '/usr/bin/chromium';
const a = {};
for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => process.stderr.write(`shop_browser: ${s}\n`);

async function until(what, ms, fn) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(150);
  }
}

async function main() {
  const { chromium } = await import('playwright-core');
  const profile = await mkdtemp(path.join(tmpdir(), 'cc-chromium-'));
  const out = { console: [] };
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true,
    args: CHROMIUM_ARGS, viewport: { width: 1000, height: 620 } });
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on('console', (m) => { if (m.type() === 'error' && out.console.length < 30) out.console.push(m.text()); });
    page.on('pageerror', (e) => out.console.push('pageerror: ' + e.message));

    // -- phase 1: the shop, before and while live ---------------------------------------------
    await page.goto(`${a.overlay}/shop/${encodeURIComponent(a.creator)}`, { waitUntil: 'load' });
    await until('the shop to load', 15000, () => page.evaluate(() => window.ccShop.state.loaded));
    out.products = await page.$$eval('.product', (els) => els.map((e) => ({ sku: e.dataset.sku,
      title: e.querySelector('.title').textContent, price: e.querySelector('.price').textContent,
      stock: e.querySelector('.stock').textContent, checkout: e.querySelector('a.checkout')?.href || null })));
    out.badgeBeforeLive = await page.$eval('#live', (e) => !e.hidden);
    log(`shop lists ${out.products.length} products; live badge before the stream: ${out.badgeBeforeLive}`);
    writeFileSync(a['ready-file'], '1'); // the test starts the publisher now
    await until('the test to start the publisher', 30000, () => existsSync(a['live-file']));
    const t0 = Date.now();
    await until('the live badge', 40000, () => page.$eval('#live', (e) => !e.hidden));
    out.badgeAfterMs = Date.now() - t0;
    out.badgeHref = await page.$eval('#live', (e) => e.getAttribute('href'));
    log(`live badge shown ${out.badgeAfterMs} ms after the publisher started, links to ${out.badgeHref}`);

    // -- phase 2: buy from the shop page ------------------------------------------------------------
    const sku = out.products.find((p) => !p.checkout).sku;
    out.boughtSku = sku;
    await page.click(`.product[data-sku="${sku}"] button.buy`);
    out.buyResult = await until('the buy result', 30000, () => page.$eval(`.product[data-sku="${sku}"] .result`,
      (e) => (e.textContent && e.textContent !== 'Ordering…' ? e.textContent : null)));
    out.stockAfter = await page.$eval(`.product[data-sku="${sku}"] .stock`, (e) => e.textContent);
    out.shopViewer = await page.evaluate(() => window.ccShop.state.viewer);
    out.shopEvent = await page.evaluate((s) => window.ccShop.state.results[s], sku);
    log(`buy: ${out.buyResult}; stock now "${out.stockAfter}"`);
    if (a['shop-shot']) await page.screenshot({ path: a['shop-shot'] });

    // -- phase 3: the viewer page sends a gift ---------------------------------------------------------
    await page.goto(`${a.overlay}/watch/${encodeURIComponent(a.creator)}?origin=${encodeURIComponent(a.origin)}`,
      { waitUntil: 'load' });
    await until('hello and the gift bar', 20000, () => page.evaluate(() => window.ccGifts &&
      window.ccGifts.state.catalog.length > 0 && window.ccOverlay.state.viewer));
    out.viewer = await page.evaluate(() => window.ccOverlay.state.viewer);
    const r = await fetch(`${a.overlay}/v1/viewers/${out.viewer}/coins`, { method: 'POST',
      headers: { Authorization: `Bearer ${a.admin}` }, body: JSON.stringify({ add: 120 }) });
    if (r.status !== 200) throw new Error(`coins: ${r.status} ${await r.text()}`);
    // the credit reaches the page at once (a balance message)
    await until('the credited balance on the page', 10000, () => page.evaluate(() => window.ccGifts.state.balance === 120));
    await until('video playing', 30000, () => page.evaluate(() => document.getElementById('video').currentTime > 1));
    await page.click('.giftbar button[data-gift="rose"]');
    await until('the rose ack', 10000, () => page.evaluate(() => window.ccGifts.state.balance === 115));
    // a chat line beside the gift (the screenshot shows both; the chat's own tests are test_chat_*)
    await page.fill('#chat-input', 'Sending a rocket for the blue mug!');
    await page.press('#chat-input', 'Enter');
    await until('the chat line', 10000, () => page.evaluate(() => [...document.querySelectorAll('#chat .chat-msg .text')]
      .some((e) => e.textContent === 'Sending a rocket for the blue mug!')));
    await page.click('.giftbar button[data-gift="rocket"]');
    await until('the flying rocket', 10000, () => page.$('.giftfx .flying img[src$="gift-rocket.svg"]'));
    await sleep(500); // mid-flight
    if (a['gift-shot']) await page.screenshot({ path: a['gift-shot'] });
    out.giftsShown = await page.evaluate(() => window.ccGifts.state.shown);
    out.balance = await page.evaluate(() => window.ccGifts.state.balance);
    out.board = await until('the leaderboard', 10000, () => page.$$eval('.board li', (els) =>
      (els.length ? els.map((e) => e.textContent) : null)));
    log(`gifts shown: ${out.giftsShown.map((g) => g.gift).join(', ')}; balance ${out.balance}; board ${out.board}`);

    // -- phase 4: the operator pins a catalog product with one click ------------------------------
    await page.goto(`${a.overlay}/operator`, { waitUntil: 'load' });
    await page.fill('#token', a.token);
    await page.dispatchEvent('#token', 'change');
    await until('the stream in the operator page', 15000, () => page.$eval('#stream', (s, c) =>
      [...s.options].some((o) => o.value === c), a.creator));
    await page.selectOption('#stream', a.creator);
    await page.dispatchEvent('#stream', 'change');
    const pinSku = a['pin-sku'];
    await until('the catalog list', 15000, () => page.$(`#catalog button[data-sku="${pinSku}"]`));
    out.catalogListed = await page.$$eval('#catalog button', (bs) => bs.map((b) => b.dataset.sku));
    await page.click(`#catalog button[data-sku="${pinSku}"]`);
    out.pinned = await until('the pinned cue', 10000, () => page.evaluate(() => window.ccOperatorGifts.pinned[0]));
    out.earningsText = await until('the earnings panel', 10000, () => page.$eval('#earnings', (e) =>
      (e.textContent.includes('gifts:') ? e.textContent : null)));
    log(`operator pinned ${pinSku} with one click: cue ${out.pinned.id}`);
  } finally {
    await ctx.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { log(e.stack || String(e)); process.exit(1); });
