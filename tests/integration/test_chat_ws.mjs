#!/usr/bin/env node
// Chat and moderation end to end (docs/chat.md): a real redis-server, real
// cartcast-overlay binaries (two where fan-out matters), viewers on Node's
// `ws`, a review hook served by this test with Node's http module.
//   node tests/integration/test_chat_ws.mjs        (CC_BUILD_DIR picks the build)
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { freePort, rest, sleep, Stack, TOKEN, Viewer, waitFor } from './overlay_lib.mjs';

const S = 'shop';
const MOD = 'moderator-token-for-tests';

// Every chat event a viewer got, whether batched ({"type":"chat_batch","events":[...]}) or not.
function events(v) {
  return v.msgs.flatMap((m) => (m.type === 'chat_batch' ? m.events
    : ['chat', 'chat_delete', 'chat_pin', 'chat_unpin', 'chat_answered', 'chat_settings'].includes(m.type) ? [m] : []));
}
const chatTexts = (v) => events(v).filter((e) => e.type === 'chat').map((e) => e.msg.text);
const waitEvent = (v, pred, what) => waitFor(() => events(v).find(pred), 8000, what);
const waitChat = (v, text) => waitEvent(v, (e) => e.type === 'chat' && e.msg.text === text, `chat "${text}"`);
// The sender's answer to the message with this req: chat_ack or error.
const answer = (v, req) => v.next((m) => m.req === req && (m.type === 'chat_ack' || m.type === 'error'), 8000, `answer ${req}`);

async function join(ov, { name, token } = {}) {
  const q = new URLSearchParams();
  if (name !== undefined) q.set('name', name);
  if (token) q.set('viewer', token);
  const v = await Viewer.open(ov.ws(`/v1/streams/${S}/ws?${q}`));
  v.hello = await v.next('hello');
  return v;
}

async function say(v, text, req, extra = {}) {
  v.send({ type: 'chat', text, req, ...extra });
  return answer(v, req);
}

async function modlog(ov, after) {
  const r = await rest(ov, 'GET', `/v1/streams/${S}/moderation/log${after ? `?after=${after}` : ''}`, { token: MOD });
  assert.equal(r.status, 200, r.text);
  return r.json.entries;
}

describe('cartcast-overlay chat', { timeout: 240000 }, () => {
  let stack, redis, a, b, hook, hookPort, hookCalls;

  before(async () => {
    stack = new Stack();
    redis = await stack.redis();
    await redis.call('SADD', 'cc:streams', S);
    stack.fakeLive(redis, S);
    const common = ['--operator-token', `${TOKEN}=${S}`, '--moderator-token', `${MOD}=${S}`,
      '--moderator-token', 'moderator-of-other=other', '--chat-rate', '20', '--max-conns-per-addr', '100'];
    a = await stack.overlay(redis, common);
    b = await stack.overlay(redis, common);
    // the review hook: its answer depends on the message's first word
    hookCalls = [];
    hook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        const m = JSON.parse(body);
        hookCalls.push({ path: req.url, method: req.method, m });
        const word = m.text.split(' ')[0];
        const send = (o) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(o)); };
        if (word === 'allow') send({ result: 'allow' });
        else if (word === 'deny') send({ result: 'DENY', reason: 'off-topic claims' });
        else if (word === 'replace') send({ result: 'replace', text: m.text.replace(/darn/g, '****') });
        else if (word === 'garbage') res.end('not json');
        else if (word === 'slow') setTimeout(() => send({ result: 'deny' }), 1500);
        else send({ result: 'allow' });
      });
    });
    hookPort = await freePort();
    await new Promise((r) => hook.listen(hookPort, '127.0.0.1', r));
  });

  after(async () => {
    hook.close();
    await stack.stop();
  });

  it('a message reaches viewers on two overlays, under the sender\'s name and identity', async () => {
    const alice = await join(a, { name: 'Alice ✨' });
    const bob = await join(b, { name: 'Bob' });
    const carol = await join(b);
    assert.equal(alice.hello.chat.name, 'Alice ✨');
    assert.match(carol.hello.chat.name, /^viewer-[0-9a-f]{4}$/);
    assert.equal(alice.hello.chat.tick_ms, 100);
    const ack = await say(alice, 'Is the mug dishwasher safe?', 'a1', { viewer: 'v000000000000000000000000' });
    assert.equal(ack.type, 'error', 'unknown fields are refused'); // "viewer" is not a chat field
    assert.equal(ack.code, 'invalid');
    const ok = await say(alice, '  Is the mug dishwasher safe?  ', 'a2');
    assert.equal(ok.type, 'chat_ack', JSON.stringify(ok));
    assert.equal(ok.status, 'sent');
    assert.match(ok.id, /^m[0-9a-f]{16}$/);
    for (const v of [alice, bob, carol]) {
      const e = await waitChat(v, 'Is the mug dishwasher safe?');
      assert.equal(e.msg.id, ok.id);
      assert.equal(e.msg.name, 'Alice ✨');
      assert.equal(e.msg.viewer, alice.hello.viewer); // the connection's identity, never the client's
      assert.equal(e.msg.question, false);
    }
    // a display name can be changed, and a bad one is refused with a reason
    bob.send({ type: 'chat_name', name: 'Bob the builder', req: 'n1' });
    assert.equal((await bob.next((m) => m.req === 'n1')).name, 'Bob the builder');
    bob.send({ type: 'chat_name', name: 'evil\u202eredli', req: 'n2' });
    const bad = await bob.next((m) => m.req === 'n2');
    assert.equal(bad.code, 'invalid_name');
    assert.match(bad.message, /bidirectional/);
    bob.send({ type: 'chat_name', name: 'x'.repeat(33), req: 'n3' });
    assert.equal((await bob.next((m) => m.req === 'n3')).code, 'invalid_name');
    assert.equal((await say(bob, 'hi all', 'b1')).status, 'sent');
    assert.equal((await waitChat(alice, 'hi all')).msg.name, 'Bob the builder');
    // an invalid ?name= falls back to the default
    const dan = await join(a, { name: 'tab\there' });
    assert.match(dan.hello.chat.name, /^viewer-/);
    for (const v of [alice, bob, carol, dan]) await v.close();
  });

  it('a late joiner gets the last messages in hello, in order, on either overlay', async () => {
    const s = await join(a, { name: 'Sender' });
    const onB = await join(b);
    const texts = ['one', 'two', 'three'].map((t) => `history ${t} ${Date.now()}`);
    for (const [i, t] of texts.entries()) assert.equal((await say(s, t, `h${i}`)).status, 'sent');
    // "late": after overlay b delivered them (a viewer who joins within the
    // same tick gets them in that tick's batch instead, never twice)
    await waitChat(onB, texts[2]);
    const late = await join(b);
    const hist = late.hello.chat.history.map((m) => m.text);
    assert.deepEqual(hist.slice(-3), texts);
    assert.ok(late.hello.chat.history.every((m) => /^m[0-9a-f]{16}$/.test(m.id) && m.name && m.viewer));
    // joining in the middle of a burst: each message once, in hello or in a batch
    const burst = [0, 1, 2, 3, 4, 5].map((i) => `mid-join ${i} ${Date.now()}`);
    for (const [i, t] of burst.entries()) s.send({ type: 'chat', text: t, req: `mj${i}` });
    const mid = await join(b);
    await waitChat(onB, burst[5]);
    await waitFor(() => [...mid.hello.chat.history.map((m) => m.text), ...chatTexts(mid)].includes(burst[5]), 5000, 'burst');
    const seen = [...mid.hello.chat.history.map((m) => m.text), ...chatTexts(mid)].filter((t) => t.startsWith('mid-join'));
    assert.deepEqual(seen, burst);
    for (const v of [s, onB, late, mid]) await v.close();
  });

  it('length, content and rate limits are answered to the sender only', async () => {
    const s = await join(a, { name: 'Loud' });
    const other = await join(b, { name: 'Other' });
    let r = await say(s, 'x'.repeat(301), 'l1');
    assert.equal(r.code, 'too_long');
    assert.equal(r.action, 'chat');
    assert.match(r.message, /300 characters/);
    assert.equal((await say(s, 'é'.repeat(300), 'l2')).status, 'sent', 'the cap counts characters, not bytes');
    r = await say(s, 'bell\u0007', 'l3');
    assert.equal(r.code, 'invalid');
    assert.match(r.message, /control/);
    r = await say(s, '   ', 'l4');
    assert.equal(r.code, 'invalid');
    r = await say(s, 'q', 'l5', { question: 'yes' });
    assert.match(r.message, /question/);
    // --chat-rate 20 per 10 s: the 21st in a burst is refused, with a hint when to retry
    const answers = [];
    for (let i = 0; i < 24; i++) s.send({ type: 'chat', text: `burst ${i}`, req: `r${i}` });
    for (let i = 0; i < 24; i++) answers.push(await answer(s, `r${i}`));
    const limited = answers.filter((x) => x.code === 'rate_limited');
    assert.ok(limited.length >= 4, JSON.stringify(answers.map((x) => x.code || x.status)));
    assert.ok(limited[0].retry_after_ms > 0);
    await waitChat(other, 'burst 0');
    await sleep(300);
    const errsAtOther = other.msgs.filter((m) => m.type === 'error');
    assert.deepEqual(errsAtOther, [], 'errors go to the sender only');
    assert.ok(!chatTexts(other).includes('x'.repeat(301)));
    await s.close();
    await other.close();
  });

  it('slow mode: one message per interval per viewer, across overlays', async () => {
    let r = await rest(a, 'POST', `/v1/streams/${S}/chat/settings`, { token: MOD, body: { slow_ms: 5000, by: 'Mia' } });
    assert.equal(r.status, 200, r.text);
    const s = await join(a);
    const watcher = await join(b);
    await waitFor(() => s.hello.chat.slow_ms === 5000 || events(s).some((e) => e.type === 'chat_settings'), 5000, 'settings');
    assert.equal((await say(s, 'first under slow mode', 's1')).status, 'sent');
    const second = await say(s, 'second too soon', 's2');
    assert.equal(second.code, 'slow_mode');
    assert.ok(second.retry_after_ms > 0 && second.retry_after_ms <= 5000);
    // the same identity on the other overlay is held to the same interval (Redis decides)
    const again = await join(b, { token: s.hello.token });
    const third = await say(again, 'third from elsewhere', 's3');
    assert.equal(third.code, 'slow_mode', JSON.stringify(third));
    // the watcher joined after the change: in its hello, or (if it joined within that tick) in a batch
    await waitFor(() => watcher.hello.chat.slow_ms === 5000 ||
      events(watcher).some((e) => e.type === 'chat_settings' && e.slow_ms === 5000), 8000, 'slow mode on the watcher');
    r = await rest(a, 'POST', `/v1/streams/${S}/chat/settings`, { token: MOD, body: { slow_ms: 0 } });
    assert.equal(r.status, 200);
    await waitEvent(watcher, (e) => e.type === 'chat_settings' && e.slow_ms === 0, 'slow mode off');
    await sleep(200);
    const fourth = await say(again, 'after slow mode', 's4');
    assert.equal(fourth.status, 'sent', JSON.stringify(fourth));
    for (const v of [s, watcher, again]) await v.close();
  });

  it('blocked terms: matched on normalised text, rejected with a reason or held for review', async () => {
    let r = await rest(a, 'POST', `/v1/streams/${S}/chat/terms`, { token: MOD, body: { terms: [
      { term: 'miracle cure', action: 'reject' }, { term: 'free money', action: 'hold' }] } });
    assert.equal(r.status, 200, r.text);
    const s = await join(a, { name: 'Spammer' });
    const watcher = await join(b);
    // every overlay learns the list from the chat stream
    await waitFor(async () => (await say(s, `probe MIRACLE-cure ${Date.now()}`, `p${Date.now()}`)).code === 'blocked', 8000,
      'terms on overlay a');
    const s2 = await join(b, { name: 'Spammer2' });
    await waitFor(async () => (await say(s2, `probe MIRACLE-cure ${Date.now()}`, `p${Date.now()}`)).code === 'blocked', 8000,
      'terms on overlay b');
    for (const [i, text] of ['This is a MIRACLE   cure!!', 'the Ｍｉｒａｃｌｅ ｃｕｒｅ', 'a m1racle cure'].entries()) {
      r = await say(s2, text, `t${i}`);
      assert.equal(r.code, 'blocked', `${text}: ${JSON.stringify(r)}`);
      assert.match(r.message, /not allowed/);
    }
    assert.equal((await say(s2, 'miracles cure nothing', 'tw')).status, 'sent', 'whole words only');
    r = await say(s2, 'get fr\u200bee m0ney now', 'th');
    assert.equal(r.type, 'chat_ack');
    assert.equal(r.status, 'held');
    const held = await rest(a, 'GET', `/v1/streams/${S}/chat`, { token: MOD });
    const h = held.json.held.find((m) => m.id === r.id);
    assert.ok(h, JSON.stringify(held.json.held));
    assert.match(h.held_reason, /free money/);
    assert.deepEqual(held.json.terms, [{ term: 'miracle cure', action: 'reject' }, { term: 'free money', action: 'hold' }]);
    await sleep(300);
    assert.ok(!chatTexts(watcher).includes('get fr\u200bee m0ney now'), 'held messages are not shown');
    // a moderator approves it: now everyone sees it
    r = await rest(b, 'POST', `/v1/streams/${S}/chat/held/${h.id}/approve`, { token: MOD, body: { by: 'Mia' } });
    assert.equal(r.status, 200, r.text);
    await waitChat(watcher, 'get fr\u200bee m0ney now');
    r = await rest(b, 'POST', `/v1/streams/${S}/chat/held/${h.id}/approve`, { token: MOD });
    assert.equal(r.status, 404);
    const log = await modlog(a);
    const blocked = log.filter((e) => e.action === 'blocked_term');
    assert.ok(blocked.length >= 3);
    assert.equal(blocked.at(-1).who, 'auto');
    assert.match(blocked.at(-1).reason, /miracle cure/);
    assert.ok(blocked.at(-1).ts > 1e12);
    assert.ok(log.some((e) => e.action === 'hold' && e.target === h.id && /free money/.test(e.reason)));
    const appr = log.find((e) => e.action === 'approve' && e.target === h.id);
    assert.match(appr.who, /^Mia \(token:[0-9a-f]{16}\)$/);
    assert.equal(appr.scope, 'moderator');
    assert.ok(!JSON.stringify(log).includes(MOD), 'the token itself is never logged');
    r = await rest(a, 'POST', `/v1/streams/${S}/chat/terms`, { token: MOD, body: { terms: [] } });
    assert.equal(r.status, 200);
    for (const v of [s, s2, watcher]) await v.close();
  });

  it('hold-all: every message waits for approval; a rejected one never shows', async () => {
    let r = await rest(a, 'POST', `/v1/streams/${S}/chat/settings`, { token: TOKEN, body: { hold_all: true } });
    assert.equal(r.status, 200, r.text);
    const s = await join(b);
    const watcher = await join(a);
    const one = await say(s, 'please approve me', 'ha1');
    assert.equal(one.status, 'held');
    const two = await say(s, 'please reject me', 'ha2');
    assert.equal(two.status, 'held');
    r = await rest(a, 'POST', `/v1/streams/${S}/chat/held/${two.id}/reject`, { token: MOD, body: { reason: 'spam' } });
    assert.equal(r.status, 200);
    r = await rest(a, 'POST', `/v1/streams/${S}/chat/held/${one.id}/approve`, { token: MOD });
    assert.equal(r.status, 200);
    await waitChat(watcher, 'please approve me');
    assert.ok(!chatTexts(watcher).includes('please reject me'));
    const log = await modlog(a);
    assert.ok(log.some((e) => e.action === 'hold' && e.target === one.id && e.reason === 'hold-all mode'));
    assert.ok(log.some((e) => e.action === 'reject' && e.target === two.id && e.reason === 'spam'));
    r = await rest(a, 'POST', `/v1/streams/${S}/chat/settings`, { token: TOKEN, body: { hold_all: false } });
    assert.equal(r.status, 200);
    await waitEvent(s, (e) => e.type === 'chat_settings' && e.hold_all === false, 'hold-all off');
    assert.equal((await say(s, 'free again', 'ha3')).status, 'sent');
    await s.close();
    await watcher.close();
  });

  it('the review hook: allow, deny, replace, and the fallback when it is late or answers nonsense', async () => {
    const url = `http://127.0.0.1:${hookPort}/review/chat`;
    const lenient = await stack.overlay(redis, ['--operator-token', `${TOKEN}=${S}`, '--chat-review-url', url]);
    const strict = await stack.overlay(redis, ['--operator-token', `${TOKEN}=${S}`, '--chat-review-url', url,
      '--chat-review-fallback', 'deny', '--chat-review-timeout-ms', '300']);
    const s = await join(lenient, { name: 'Hooked' });
    const t = await join(strict, { name: 'Strict' });
    const watcher = await join(a);
    let r = await say(s, 'allow this one', 'rv1');
    assert.equal(r.status, 'sent');
    await waitChat(watcher, 'allow this one');
    const call = hookCalls.find((c) => c.m.text === 'allow this one');
    assert.equal(call.method, 'POST');
    assert.equal(call.path, '/review/chat');
    assert.equal(call.m.stream, S);
    assert.equal(call.m.viewer, s.hello.viewer);
    assert.equal(call.m.name, 'Hooked');
    r = await say(s, 'deny this one', 'rv2');
    assert.equal(r.code, 'denied');
    assert.equal(r.message, 'off-topic claims');
    r = await say(s, 'replace darn words', 'rv3');
    assert.equal(r.status, 'sent');
    assert.equal(r.text, 'replace **** words');
    await waitChat(watcher, 'replace **** words');
    // late answer: the fallback decides within the timeout (allow here, deny on the strict overlay)
    r = await say(s, 'slow but fine', 'rv4');
    assert.equal(r.status, 'sent', JSON.stringify(r));
    r = await say(t, 'slow and refused', 'rv5');
    assert.equal(r.code, 'denied');
    r = await say(t, 'garbage answer', 'rv6');
    assert.equal(r.code, 'denied');
    r = await say(s, 'garbage answer', 'rv7');
    assert.equal(r.status, 'sent');
    await sleep(300);
    assert.ok(!chatTexts(watcher).includes('deny this one'));
    assert.ok(!chatTexts(watcher).includes('slow and refused'));
    assert.ok(await lenient.metric('cartcast_overlay_chat_review_timeouts_total') >= 1);
    const log = await modlog(a);
    assert.ok(log.some((e) => e.action === 'review_deny' && e.reason === 'off-topic claims' && /deny this one/.test(e.text)));
    assert.ok(log.some((e) => e.action === 'review_fallback_deny' && /slow and refused/.test(e.text)));
    for (const v of [s, t, watcher]) await v.close();
  });

  it('delete: the message leaves every screen and the history', async () => {
    const s = await join(a, { name: 'Oops' });
    const wa = await join(a);
    const wb = await join(b);
    const r1 = await say(s, 'delete me please', 'd1');
    await waitChat(wb, 'delete me please');
    let r = await rest(b, 'DELETE', `/v1/streams/${S}/chat/messages/${r1.id}`, { token: MOD, body: { reason: 'rude' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.found, true);
    for (const v of [s, wa, wb]) await waitEvent(v, (e) => e.type === 'chat_delete' && e.id === r1.id, 'chat_delete');
    const late = await join(b);
    assert.ok(!late.hello.chat.history.some((m) => m.id === r1.id));
    const state = await rest(a, 'GET', `/v1/streams/${S}/chat`, { token: MOD });
    assert.ok(!state.json.messages.some((m) => m.id === r1.id));
    const log = await modlog(a);
    const e = log.find((x) => x.action === 'delete' && x.target === r1.id);
    assert.equal(e.reason, 'rude');
    assert.match(e.text, /delete me please/);
    r = await rest(b, 'POST', `/v1/streams/${S}/chat/messages/m0123456789abcdef/delete`, { token: MOD });
    assert.equal(r.status, 200);
    assert.equal(r.json.found, false);
    for (const v of [s, wa, wb, late]) await v.close();
  });

  it('pin, and questions the host marks answered', async () => {
    const s = await join(a, { name: 'Curious' });
    const w = await join(b);
    const q = await say(s, 'Does it come in blue?', 'q1', { question: true });
    assert.equal(q.status, 'sent');
    assert.equal((await waitChat(w, 'Does it come in blue?')).msg.question, true);
    let st = await rest(a, 'GET', `/v1/streams/${S}/chat`, { token: TOKEN });
    assert.ok(st.json.questions.some((m) => m.id === q.id && m.question === true));
    let r = await rest(a, 'POST', `/v1/streams/${S}/chat/messages/${q.id}/pin`, { token: MOD });
    assert.equal(r.status, 200, r.text);
    assert.equal((await waitEvent(w, (e) => e.type === 'chat_pin', 'chat_pin')).msg.id, q.id);
    // overlay a applies the pin at its own next tick: join after a's viewers have seen it
    assert.equal((await waitEvent(s, (e) => e.type === 'chat_pin', 'chat_pin on a')).msg.id, q.id);
    const late = await join(a);
    assert.equal(late.hello.chat.pinned.id, q.id);
    r = await rest(a, 'POST', `/v1/streams/${S}/chat/messages/${q.id}/answered`, { token: TOKEN });
    assert.equal(r.status, 200);
    await waitEvent(w, (e) => e.type === 'chat_answered' && e.id === q.id, 'chat_answered');
    st = await rest(a, 'GET', `/v1/streams/${S}/chat`, { token: TOKEN });
    assert.ok(!st.json.questions.some((m) => m.id === q.id));
    r = await rest(a, 'POST', `/v1/streams/${S}/chat/messages/${q.id}/answered`, { token: TOKEN });
    assert.equal(r.status, 404);
    r = await rest(a, 'POST', `/v1/streams/${S}/chat/unpin`, { token: MOD });
    assert.equal(r.status, 200);
    await waitEvent(w, (e) => e.type === 'chat_unpin', 'chat_unpin');
    r = await rest(a, 'POST', `/v1/streams/${S}/chat/messages/m0123456789abcdef/pin`, { token: MOD });
    assert.equal(r.status, 404);
    for (const v of [s, w, late]) await v.close();
  });

  it('mute: refused for a time, with the time left; unmute', async () => {
    const s = await join(a, { name: 'Muted' });
    const w = await join(b);
    let r = await rest(a, 'POST', `/v1/streams/${S}/chat/viewers/${s.hello.viewer}/mute`, { token: MOD,
      body: { duration_s: 60, reason: 'cool down' } });
    assert.equal(r.status, 200, r.text);
    await waitFor(async () => (await say(s, 'am I muted?', `m${Date.now()}`)).code === 'muted', 5000, 'muted');
    const m2 = await say(s, 'still muted?', 'mm');
    assert.equal(m2.code, 'muted');
    assert.ok(m2.retry_after_ms > 50000 && m2.retry_after_ms <= 60000, String(m2.retry_after_ms));
    // the same identity through the other overlay is muted too
    const s2 = await join(b, { token: s.hello.token });
    assert.equal((await say(s2, 'via b', 'mb')).code, 'muted');
    r = await rest(b, 'POST', `/v1/streams/${S}/chat/viewers/${s.hello.viewer}/unmute`, { token: MOD });
    assert.equal(r.status, 200);
    await waitFor(async () => (await say(s, 'unmuted now', `u${Date.now()}`)).status === 'sent', 5000, 'unmuted');
    assert.ok(!chatTexts(w).includes('am I muted?'));
    const log = await modlog(a);
    assert.ok(log.some((e) => e.action === 'mute' && e.target === s.hello.viewer && e.reason === 'cool down'));
    assert.ok(log.some((e) => e.action === 'unmute' && e.target === s.hello.viewer));
    r = await rest(a, 'POST', `/v1/streams/${S}/chat/viewers/${s.hello.viewer}/mute`, { token: MOD, body: { duration_s: 0 } });
    assert.equal(r.status, 400);
    assert.equal(r.json.fields[0].field, 'duration_s');
    for (const v of [s, s2, w]) await v.close();
  });

  it('ban: every connection of the viewer closes (4003) on every overlay; the identity cannot rejoin', async () => {
    const s1 = await join(a, { name: 'Troll' });
    const s2 = await join(b, { token: s1.hello.token });
    const w = await join(a);
    await say(s1, 'troll message', 'bn1');
    const r = await rest(a, 'POST', `/v1/streams/${S}/chat/viewers/${s1.hello.viewer}/ban`, { token: MOD,
      body: { reason: 'harassment', by: 'Mia' } });
    assert.equal(r.status, 200, r.text);
    for (const v of [s1, s2]) {
      const c = await v.closedP;
      assert.equal(c.code, 4003);
      assert.equal(c.reason, 'banned');
    }
    for (const ov of [a, b]) {
      const back = new Viewer(ov.ws(`/v1/streams/${S}/ws?viewer=${s1.hello.token}`));
      const c = await back.closedP;
      assert.equal(c.code, 4003, 'rejoin refused');
      assert.ok(!back.msgs.some((m) => m.type === 'hello'));
    }
    assert.equal(w.closed, null, 'other viewers stay');
    const fresh = await join(a); // another identity is a different viewer
    assert.ok(fresh.hello.viewer !== s1.hello.viewer);
    const st = await rest(a, 'GET', `/v1/streams/${S}/chat`, { token: MOD });
    assert.equal(st.json.banned[s1.hello.viewer].reason, 'harassment');
    const log = await modlog(a);
    const e = log.find((x) => x.action === 'ban' && x.target === s1.hello.viewer);
    assert.equal(e.reason, 'harassment');
    assert.match(e.who, /^Mia/);
    assert.equal((await rest(a, 'POST', `/v1/streams/${S}/chat/viewers/${s1.hello.viewer}/unban`, { token: MOD })).status, 200);
    const again = await join(b, { token: s1.hello.token });
    assert.equal(again.hello.viewer, s1.hello.viewer);
    for (const v of [w, fresh, again]) await v.close();
  });

  it('tokens and errors: moderators moderate but make no cues; scope, 401, 404/405 and field errors', async () => {
    let r = await rest(a, 'POST', `/v1/streams/${S}/cues`, { token: MOD, body: { kind: 'countdown', countdown: { seconds: 5 } } });
    assert.equal(r.status, 403);
    assert.match(r.json.message, /moderat/);
    r = await rest(a, 'GET', `/v1/streams/${S}/chat`);
    assert.equal(r.status, 401);
    r = await rest(a, 'GET', `/v1/streams/${S}/chat`, { token: 'moderator-of-other' });
    assert.equal(r.status, 403);
    r = await rest(a, 'GET', `/v1/streams/${S}/chat/nothing`, { token: MOD });
    assert.equal(r.status, 404);
    r = await rest(a, 'GET', `/v1/streams/${S}/chat/settings`, { token: MOD });
    assert.equal(r.status, 405);
    r = await rest(a, 'POST', `/v1/streams/${S}/chat/viewers/not-a-viewer/ban`, { token: MOD });
    assert.equal(r.status, 404);
    r = await rest(a, 'POST', `/v1/streams/${S}/chat/settings`, { token: MOD, body: { slow_ms: -1 } });
    assert.equal(r.status, 400);
    assert.equal(r.json.fields[0].field, 'slow_ms');
    r = await rest(a, 'POST', `/v1/streams/${S}/chat/settings`, { token: MOD, body: { slow: 5 } });
    assert.equal(r.status, 400);
    assert.match(r.json.message, /slow: unknown field/);
    r = await rest(a, 'POST', `/v1/streams/${S}/chat/terms`, { token: MOD, body: { terms: [{ term: 'ok' }, { term: '!!!' }] } });
    assert.equal(r.status, 400);
    assert.equal(r.json.fields[0].field, 'terms[1].term');
    r = await rest(a, 'POST', `/v1/streams/${S}/chat/terms`, { token: MOD, body: { terms: [{ term: 'x', action: 'shout' }] } });
    assert.equal(r.json.fields[0].field, 'terms[0].action');
    r = await rest(a, 'GET', `/v1/streams/${S}/moderation/log?count=0`, { token: MOD });
    assert.equal(r.status, 400);
  });

  it('the moderation log pages with after=', async () => {
    const all = await modlog(a);
    assert.ok(all.length >= 10);
    for (const e of all) {
      assert.ok(e.id && e.ts && e.who && e.action, JSON.stringify(e));
      assert.ok('target' in e && 'reason' in e && 'scope' in e);
    }
    const rest2 = await modlog(a, all[4].id);
    assert.equal(rest2[0].id, all[5].id);
  });

  it('batching: with a long tick, a burst arrives in fewer frames; with --chat-tick-ms 0, one frame each', async () => {
    const batched = await stack.overlay(redis, ['--chat-tick-ms', '1000', '--chat-rate', '100']);
    const single = await stack.overlay(redis, ['--chat-tick-ms', '0']);
    const s = await join(batched);
    const wb = await join(batched);
    const ws = await join(single);
    const tag = `burst-${Date.now()}`;
    for (let i = 0; i < 8; i++) s.send({ type: 'chat', text: `${tag} ${i}`, req: `bb${i}` });
    for (let i = 0; i < 8; i++) assert.equal((await answer(s, `bb${i}`)).status, 'sent');
    for (const v of [wb, ws]) await waitChat(v, `${tag} 7`);
    const framesB = wb.msgs.filter((m) => m.type === 'chat_batch' && m.events.some((e) => e.msg?.text.startsWith(tag)));
    assert.ok(framesB.length < 8, `8 messages in ${framesB.length} frames`);
    assert.deepEqual(framesB.flatMap((f) => f.events.map((e) => e.msg.text)), [...Array(8).keys()].map((i) => `${tag} ${i}`));
    const framesS = ws.msgs.filter((m) => m.type === 'chat' && m.msg.text.startsWith(tag));
    assert.equal(framesS.length, 8);
    assert.ok(!ws.msgs.some((m) => m.type === 'chat_batch'));
    for (const v of [s, wb, ws]) await v.close();
  });
});
