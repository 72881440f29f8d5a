#!/usr/bin/env node
// The chat in Chromium (playwright-core, Debian's /usr/bin/chromium): hostile
// chat text and names show as text and run nothing, on the viewer page and on
// the operator's moderation panel; a message typed on the page reaches a Node
// viewer; a moderator's delete removes it from the page. Real redis-server
// and cartcast-overlay; no video (the chat does not need it).
//   node tests/integration/test_chat_browser.mjs
// CC_CHAT_SCREENSHOTS=docs writes docs/chat-viewer.png and docs/chat-moderation.png.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CHROMIUM_ARGS } from './hls_player.mjs';
import { rest, sleep, Stack, TOKEN, Viewer, waitFor } from './overlay_lib.mjs';

const S = 'shop';
const MOD = 'moderator-token-for-tests';
const CHROMIUM = process.env.CC_CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.CC_CHAT_SCREENSHOTS || null;
const XSS = '<img src=x onerror="window.__pwned=1;document.title=\'pwned\'"> look';
const XSS2 = '<script>window.__pwned=2</script>';

describe('chat in the browser', { timeout: 180000 }, () => {
  let stack, redis, ov, ctx, profile, page;
  const pageErrors = [];

  before(async () => {
    stack = new Stack();
    redis = await stack.redis();
    await redis.call('SADD', 'cc:streams', S);
    stack.fakeLive(redis, S);
    ov = await stack.overlay(redis, ['--operator-token', `${TOKEN}=${S}`, '--moderator-token', `${MOD}=${S}`,
      '--origin-url', 'http://127.0.0.1:9']);
    const { chromium } = await import('playwright-core');
    profile = await mkdtemp(path.join(tmpdir(), 'cc-chromium-'));
    ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
      viewport: { width: 960, height: 540 } });
    page = ctx.pages()[0] || await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('dialog', (d) => { pageErrors.push('dialog: ' + d.message()); d.dismiss(); });
  });

  after(async () => {
    if (ctx) await ctx.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    await stack.stop();
  });

  it('hostile chat text and names are shown as text and run nothing', async () => {
    await page.goto(ov.url(`/watch/${S}`), { waitUntil: 'load' });
    await waitFor(() => page.evaluate(() => window.ccChat && window.ccChat.state.name !== ''), 15000, 'hello on the page');
    const mallory = await Viewer.open(ov.ws(`/v1/streams/${S}/ws?name=${encodeURIComponent('<b>Mallory</b>')}`));
    await mallory.next('hello');
    for (const [i, text] of [XSS, XSS2].entries()) {
      mallory.send({ type: 'chat', text, req: `x${i}` });
      assert.equal((await mallory.next((m) => m.req === `x${i}`)).status, 'sent');
    }
    await waitFor(() => page.evaluate(() => document.querySelectorAll('#chat .chat-msg').length >= 2), 10000, 'two messages');
    await sleep(500); // give a planted onerror the time to fire, if there were one
    const seen = await page.evaluate(() => ({
      pwned: window.__pwned,
      title: document.title,
      imgs: document.querySelectorAll('#chat img, #chat script, #chat b').length,
      texts: [...document.querySelectorAll('#chat .chat-msg .text')].map((e) => e.textContent),
      names: [...document.querySelectorAll('#chat .chat-msg .who')].map((e) => e.textContent),
    }));
    assert.equal(seen.pwned, undefined);
    assert.notEqual(seen.title, 'pwned');
    assert.equal(seen.imgs, 0);
    assert.deepEqual(seen.texts.slice(-2), [XSS, XSS2]);
    assert.deepEqual(seen.names.slice(-2), ['<b>Mallory</b>', '<b>Mallory</b>']);
    // typed on the page: reaches another viewer under the page's identity
    await page.fill('#chat-input', 'Does the red mug come in blue?');
    await page.check('#chat-question');
    await page.press('#chat-input', 'Enter');
    const got = await mallory.next((m) => m.type === 'chat_batch' && m.events.some((e) => e.msg?.text === 'Does the red mug come in blue?'));
    const ev = got.events.find((e) => e.msg?.text === 'Does the red mug come in blue?');
    assert.equal(ev.msg.question, true);
    assert.equal(ev.msg.viewer, await page.evaluate(() => window.ccOverlay.state.viewer));
    // a moderator pins the question and deletes the first hostile message: the page follows
    const st = await rest(ov, 'GET', `/v1/streams/${S}/chat`, { token: MOD });
    const bad = st.json.messages.find((m) => m.text === XSS);
    assert.equal((await rest(ov, 'DELETE', `/v1/streams/${S}/chat/messages/${bad.id}`, { token: MOD })).status, 200);
    assert.equal((await rest(ov, 'POST', `/v1/streams/${S}/chat/messages/${ev.msg.id}/pin`, { token: MOD })).status, 200);
    await waitFor(() => page.evaluate((id) => !document.querySelector(`#chat [data-id="${id}"]`), bad.id), 10000, 'deleted on the page');
    await waitFor(() => page.evaluate(() => !document.querySelector('.chat-pinned').hidden), 10000, 'pinned on the page');
    // refusals show next to the input
    await page.evaluate(() => window.ccChat.send('x'.repeat(400)));
    await waitFor(() => page.evaluate(() => document.getElementById('chat-note').textContent.includes('300')), 10000, 'error shown');
    for (let i = 0; i < 3; i++) {
      mallory.send({ type: 'chat', text: ['Love this colour!', 'How long is shipping to Lyon?', 'Just ordered two!'][i], req: `n${i}` });
      await mallory.next((m) => m.req === `n${i}`);
    }
    await sleep(400);
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'chat-viewer.png') });
    assert.deepEqual(pageErrors.filter((e) => !/hls|media|network|fetch/i.test(e)), []);
    await mallory.close();
  });

  it('the operator page\'s moderation panel lists held messages and questions as text', async () => {
    // something to moderate: a blocked term that holds, a held message, a mute in the log
    assert.equal((await rest(ov, 'POST', `/v1/streams/${S}/chat/terms`, { token: MOD, body: { terms: [
      { term: 'free money', action: 'hold' }, { term: 'miracle cure', action: 'reject' }] } })).status, 200);
    const v = await Viewer.open(ov.ws(`/v1/streams/${S}/ws?name=Eve`));
    await v.next('hello');
    await waitFor(async () => { v.send({ type: 'chat', text: `free money ${XSS}`, req: `h${Date.now()}` });
      return (await v.next((m) => m.type === 'chat_ack' || m.type === 'error')).status === 'held'; }, 10000, 'held');
    v.send({ type: 'chat', text: 'a miracle cure!', req: 'blk' });
    assert.equal((await v.next((m) => m.req === 'blk')).code, 'blocked');
    v.send({ type: 'chat', text: 'Is there a discount code?', question: true, req: 'q2' });
    await v.next((m) => m.req === 'q2');
    v.send({ type: 'chat', text: 'free money for the first 10 buyers?', req: 'h2' });
    await v.next((m) => m.req === 'h2');
    assert.equal((await rest(ov, 'POST', `/v1/streams/${S}/chat/viewers/${await viewerOf(v)}/mute`,
      { token: MOD, body: { duration_s: 120, reason: 'spam', by: 'Mia' } })).status, 200);
    const op = await ctx.newPage();
    op.on('pageerror', (e) => pageErrors.push('operator: ' + e.message));
    await op.goto(ov.url('/operator'), { waitUntil: 'load' });
    await op.fill('#token', MOD);
    await op.dispatchEvent('#token', 'change');
    await waitFor(() => op.evaluate(() => document.querySelectorAll('#mod-held li').length > 0 &&
      document.querySelector('#mod-held li .txt') !== null), 15000, 'held list');
    await waitFor(() => op.evaluate(() => document.querySelectorAll('#mod-log li').length >= 3), 15000, 'log');
    const shown = await op.evaluate(() => ({
      held: [...document.querySelectorAll('#mod-held li .txt')].map((e) => e.textContent),
      questions: [...document.querySelectorAll('#mod-questions li .txt')].map((e) => e.textContent),
      imgs: document.querySelectorAll('#moderation img, #moderation script').length,
      pwned: window.__pwned,
      log: [...document.querySelectorAll('#mod-log li')].map((e) => e.textContent),
    }));
    assert.equal(shown.imgs, 0);
    assert.equal(shown.pwned, undefined);
    assert.ok(shown.held.some((t) => t.includes(XSS)), JSON.stringify(shown.held));
    assert.ok(shown.questions.some((t) => t.includes('Is there a discount code?')));
    assert.ok(shown.log.some((t) => t.startsWith('mute')));
    assert.ok(shown.log.some((t) => t.startsWith('blocked_term')));
    // approving from the panel publishes it to the viewer page
    await op.locator('#mod-held li', { hasText: 'onerror' }).locator('button:has-text("Approve")').click();
    await waitFor(() => page.evaluate((x) => [...document.querySelectorAll('#chat .chat-msg .text')].some((e) => e.textContent === x),
      `free money ${XSS}`), 10000, 'approved message on the viewer page');
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    await op.evaluate(() => window.ccModeration.refresh());
    await sleep(2500);
    if (SHOTS) {
      await op.setViewportSize({ width: 1200, height: 900 });
      await sleep(300);
      await op.locator('#moderation').screenshot({ path: path.join(SHOTS, 'chat-moderation.png') });
    }
    assert.deepEqual(pageErrors, []);
    await v.close();
  });
});

async function viewerOf(v) {
  const h = v.msgs.find((m) => m.type === 'hello');
  return h.viewer;
}
