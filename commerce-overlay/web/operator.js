// cartcast operator page: pick a live stream, pin products, run polls and
// countdowns, set stock, watch tallies and sales. Talks to the overlay's REST
// API (docs/overlay.md) with the operator's Bearer token; every text shown
// goes in with textContent.
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const tokenEl = $('token');
  tokenEl.value = sessionStorage.getItem('cartcast.token') || '';
  tokenEl.addEventListener('change', () => { sessionStorage.setItem('cartcast.token', tokenEl.value); refreshStreams(); });
  let stream = '';
  let origin = '';
  let hls = null;

  const say = (id, text, bad) => { const e = $(id); e.textContent = text; e.className = 'msg' + (bad ? ' bad' : ''); };
  const el = (tag, text) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); return e; };

  async function api(method, path, body) {
    const r = await fetch(path, { method, headers: { Authorization: 'Bearer ' + tokenEl.value, 'Content-Type': 'application/json',
      'Idempotency-Key': method === 'POST' && path.endsWith('/cues') ? 'op-' + Date.now() + '-' + Math.random().toString(16).slice(2) : '' },
    body: body === undefined ? undefined : JSON.stringify(body) });
    let json = null;
    try { json = await r.json(); } catch { /* empty */ }
    if (!r.ok) {
      const fields = json && json.fields ? '\n' + json.fields.map((f) => `${f.field}: ${f.message}`).join('\n') : '';
      throw new Error(`${r.status} ${json ? json.message || json.error : ''}${fields}`);
    }
    return json;
  }

  async function refreshStreams() {
    try {
      const cfg = await (await fetch('/v1/config')).json();
      origin = cfg.origin;
      const r = await (await fetch('/v1/streams')).json();
      const sel = $('stream');
      const keep = sel.value;
      sel.textContent = '';
      for (const s of r.streams) {
        const o = el('option', s.name + (s.live ? ' · live' : ' · offline'));
        o.value = s.name;
        sel.append(o);
      }
      if (keep) sel.value = keep;
      pick(sel.value);
      say('stream-msg', r.streams.length ? '' : 'no stream announced yet: publish to the origin');
    } catch (e) { say('stream-msg', String(e), true); }
  }
  $('refresh').addEventListener('click', refreshStreams);
  $('stream').addEventListener('change', (e) => pick(e.target.value));

  function pick(name) {
    if (!name || name === stream) return;
    stream = name;
    $('viewer-link').href = '/watch/' + encodeURIComponent(name);
    $('viewer-link').textContent = 'viewer page: ' + location.origin + '/watch/' + name;
    if (window.Hls && Hls.isSupported()) {
      if (hls) hls.destroy();
      hls = new Hls({ lowLatencyMode: true });
      hls.loadSource(`${origin.replace(/\/$/, '')}/live/${encodeURIComponent(name)}/index.m3u8`);
      hls.attachMedia($('preview'));
    }
  }

  const base = () => `/v1/streams/${encodeURIComponent(stream)}`;

  $('pin').addEventListener('click', async () => {
    const dur = parseFloat($('p-dur').value);
    const body = { kind: $('p-kind').value, product: { sku: $('p-sku').value.trim(), title: $('p-title').value,
      price: Math.round(parseFloat($('p-price').value) * 100), currency: $('p-cur').value.trim().toUpperCase() } };
    if ($('p-img').value.trim()) body.product.image_url = $('p-img').value.trim();
    if (dur > 0) body.duration_ms = Math.round(dur * 1000);
    try { const c = await api('POST', base() + '/cues', body); say('pin-msg', `pinned ${c.id} at ${new Date(c.pdt_ms).toISOString()}`); refreshActive(); }
    catch (e) { say('pin-msg', e.message, true); }
  });
  $('poll').addEventListener('click', async () => {
    const options = $('q-opts').value.split('\n').map((s) => s.trim()).filter(Boolean);
    try { const c = await api('POST', base() + '/cues', { kind: 'poll', poll: { question: $('q-text').value, options } }); say('poll-msg', 'poll ' + c.id); refreshActive(); }
    catch (e) { say('poll-msg', e.message, true); }
  });
  $('countdown').addEventListener('click', async () => {
    const cd = { title: $('c-title').value, seconds: parseInt($('c-secs').value, 10) };
    if ($('c-sku').value.trim()) cd.sku = $('c-sku').value.trim();
    try { const c = await api('POST', base() + '/cues', { kind: 'countdown', countdown: cd }); say('cd-msg', 'countdown ' + c.id); refreshActive(); }
    catch (e) { say('cd-msg', e.message, true); }
  });
  $('stock').addEventListener('click', async () => {
    try { const r = await api('POST', base() + '/stock', { sku: $('s-sku').value.trim(), stock: parseInt($('s-n').value, 10) }); say('stock-msg', `${r.sku}: ${r.stock} (version ${r.version})`); }
    catch (e) { say('stock-msg', e.message, true); }
  });

  async function refreshActive() {
    if (!stream || !tokenEl.value) return;
    try {
      const r = await api('GET', base() + '/cues');
      const ul = $('active');
      ul.textContent = '';
      for (const c of r.cues.sort((a, b) => b.pdt_ms - a.pdt_ms)) {
        const li = el('li');
        const what = c.kind === 'poll' ? c.poll.question : c.kind === 'countdown' ? c.countdown.title : `${c.product.title || c.product.sku} (${c.product.sku})`;
        const left = el('div');
        left.append(el('div', what));
        const meta = el('small', `${c.kind} · ${c.id}`);
        left.append(meta);
        const p = r.polls[c.id];
        if (p) left.append(el('small', ' · ' + c.poll.options.map((o, i) => `${o}: ${p.counts[i] || 0}`).join(', ') + (p.open ? '' : ' (closed)')));
        li.append(left);
        const btns = el('div');
        if (p && p.open) {
          const close = el('button', 'Close');
          close.addEventListener('click', async () => { await api('POST', `${base()}/cues/${c.id}/close`).catch(() => {}); refreshActive(); });
          btns.append(close);
        }
        const end = el('button', 'End');
        end.addEventListener('click', async () => { await api('POST', `${base()}/cues/${c.id}/end`).catch(() => {}); refreshActive(); });
        btns.append(end);
        li.append(btns);
        ul.append(li);
      }
      const s = await api('GET', base() + '/sales');
      const amounts = Object.entries(s.amount).map(([cur, v]) => `${(v / 100).toFixed(2)} ${cur}`).join(', ') || '0';
      $('sales').textContent = `${s.orders} orders · ${s.units} units · ${amounts}`;
    } catch (e) { $('sales').textContent = e.message; }
  }

  refreshStreams();
  setInterval(refreshActive, 2000);
  setInterval(refreshStreams, 10000);
})();
