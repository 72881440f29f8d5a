// cartcast operator page: the chat moderation panel (docs/chat.md). Uses the
// token and the stream picked in operator.js's fields (#token, #stream), polls
// GET /v1/streams/NAME/chat and the moderation log every 2 s, and acts through
// the chat REST API. Works with an operator or a moderator token. Every text
// a viewer wrote goes in with textContent.
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  const grid = document.querySelector('.grid');
  const section = el('section', undefined, 'wide');
  section.id = 'moderation';
  section.innerHTML = `
    <h2>Chat moderation</h2>
    <div class="mod-grid">
      <div>
        <label>Slow mode (seconds between a viewer's messages, 0 = off)</label>
        <div class="row"><input id="mod-slow" value="0"><button id="mod-slow-set" type="button">Set</button></div>
        <label><input id="mod-hold" type="checkbox" style="width:auto"> Hold every message for approval</label>
        <label>Blocked terms (one per line; add " | hold" to hold instead of reject)</label>
        <textarea id="mod-terms" rows="4"></textarea>
        <p><button id="mod-terms-set" type="button">Save terms</button></p>
        <div class="msg" id="mod-msg"></div>
        <h2>Pinned</h2><div id="mod-pinned" class="msg"></div>
      </div>
      <div><h2>Held for review</h2><ul id="mod-held"></ul><h2>Open questions</h2><ul id="mod-questions"></ul></div>
      <div><h2>Recent messages</h2><ul id="mod-recent"></ul></div>
      <div><h2>Moderation log</h2><ul id="mod-log"></ul></div>
    </div>`; // static markup only: nothing from viewers goes through innerHTML
  grid.append(section);

  const stream = () => $('stream').value;
  const say = (text, bad) => { const e = $('mod-msg'); e.textContent = text; e.className = 'msg' + (bad ? ' bad' : ''); };
  async function api(method, path, body) {
    const r = await fetch(`/v1/streams/${encodeURIComponent(stream())}${path}`, { method,
      headers: { Authorization: 'Bearer ' + $('token').value, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body) });
    let json = null;
    try { json = await r.json(); } catch { /* empty */ }
    if (!r.ok) throw new Error(`${r.status} ${json ? json.message || json.error : ''}`);
    return json;
  }
  const act = (label, fn, quiet) => {
    const b = el('button', label, quiet ? 'quiet' : '');
    b.type = 'button';
    b.addEventListener('click', async () => {
      try { await fn(); say(''); refresh(); } catch (e) { say(String(e.message || e), true); }
    });
    return b;
  };
  function row(m, buttons, extra) {
    const li = el('li');
    const t = el('span', undefined, 'txt');
    t.append(el('b', m.name + ' '), document.createTextNode(m.text));
    if (extra) t.append(el('small', ' · ' + extra));
    const acts = el('span', undefined, 'acts');
    acts.append(...buttons);
    li.append(t, acts);
    return li;
  }

  let termsLoaded = false;
  let busy = false;
  async function refresh() {
    if (!stream() || !$('token').value || busy) return;
    busy = true;
    try {
      const s = await api('GET', '/chat');
      if (document.activeElement !== $('mod-slow')) $('mod-slow').value = String(Math.round(s.settings.slow_ms / 1000));
      $('mod-hold').checked = s.settings.hold_all;
      if (!termsLoaded && document.activeElement !== $('mod-terms')) {
        $('mod-terms').value = s.terms.map((t) => t.term + (t.action === 'hold' ? ' | hold' : '')).join('\n');
        termsLoaded = true;
      }
      const pin = $('mod-pinned');
      pin.textContent = '';
      if (s.pinned) pin.append(row(s.pinned, [act('Unpin', () => api('POST', '/chat/unpin'), true)]));
      else pin.textContent = 'nothing pinned';
      const held = $('mod-held');
      held.textContent = '';
      for (const m of s.held) held.append(row(m, [act('Approve', () => api('POST', `/chat/held/${m.id}/approve`)),
        act('Reject', () => api('POST', `/chat/held/${m.id}/reject`), true)], m.held_reason));
      if (!s.held.length) held.append(el('li', 'none'));
      const qs = $('mod-questions');
      qs.textContent = '';
      for (const m of s.questions.sort((a, b) => a.ts - b.ts))
        qs.append(row(m, [act('Answered', () => api('POST', `/chat/messages/${m.id}/answered`)),
          act('Pin', () => api('POST', `/chat/messages/${m.id}/pin`), true)]));
      if (!s.questions.length) qs.append(el('li', 'none'));
      const rec = $('mod-recent');
      rec.textContent = '';
      for (const m of s.messages.slice(-15).reverse()) {
        const muted = s.muted[m.viewer] > Date.now();
        rec.append(row(m, [act('Delete', () => api('DELETE', `/chat/messages/${m.id}`)),
          act('Pin', () => api('POST', `/chat/messages/${m.id}/pin`), true),
          muted ? act('Unmute', () => api('POST', `/chat/viewers/${m.viewer}/unmute`), true)
            : act('Mute 10 min', () => api('POST', `/chat/viewers/${m.viewer}/mute`, { duration_s: 600 }), true),
          s.banned[m.viewer] ? act('Unban', () => api('POST', `/chat/viewers/${m.viewer}/unban`), true)
            : act('Ban', () => api('POST', `/chat/viewers/${m.viewer}/ban`, { reason: 'banned from the operator page' }), true)],
        new Date(m.ts).toLocaleTimeString()));
      }
      if (!s.messages.length) rec.append(el('li', 'no messages yet'));
      const log = await api('GET', '/moderation/log?latest=12');
      const ul = $('mod-log');
      ul.textContent = '';
      for (const e of log.entries) {
        const li = el('li');
        const t = el('span', undefined, 'txt');
        t.append(el('b', e.action + ' '), document.createTextNode(`${e.target || ''} ${e.reason ? '· ' + e.reason : ''}`),
          el('small', ` · ${e.who} · ${new Date(e.ts).toLocaleTimeString()}`));
        li.append(t);
        ul.append(li);
      }
    } catch (e) {
      say(String(e.message || e), true);
    } finally {
      busy = false;
    }
  }

  $('mod-slow-set').addEventListener('click', async () => {
    const s = Number($('mod-slow').value);
    try { await api('POST', '/chat/settings', { slow_ms: Math.round(s * 1000) }); say('slow mode set'); } catch (e) { say(e.message, true); }
  });
  $('mod-hold').addEventListener('change', async (ev) => {
    try { await api('POST', '/chat/settings', { hold_all: ev.target.checked }); say(''); } catch (e) { say(e.message, true); }
  });
  $('mod-terms-set').addEventListener('click', async () => {
    const terms = $('mod-terms').value.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
      const m = l.match(/^(.*?)\s*\|\s*(hold|reject)$/);
      return m ? { term: m[1], action: m[2] } : { term: l, action: 'reject' };
    });
    try { await api('POST', '/chat/terms', { terms }); say(`${terms.length} terms saved`); } catch (e) { say(e.message, true); }
  });
  setInterval(refresh, 2000);
  $('stream').addEventListener('change', () => { termsLoaded = false; refresh(); });
  window.ccModeration = { refresh };
  setTimeout(refresh, 300);
})();
