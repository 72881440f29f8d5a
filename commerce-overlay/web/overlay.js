// cartcast viewer page: hls.js plays the stream; the overlay's WebSocket
// brings cues (product cards, buy buttons, polls, countdowns) stamped with a
// program date-time (PDT); each card is drawn on the first video frame whose
// PDT reaches the cue's. Every text from the operator goes in with
// textContent, never as HTML. Protocol: docs/overlay.md.
(() => {
  'use strict';
  const qs = new URLSearchParams(location.search);
  const name = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || '');
  const video = document.getElementById('video');
  const cardsEl = document.getElementById('cards');
  const statusEl = document.getElementById('status');

  const state = {
    stream: name,
    cues: new Map(),     // id -> cue (from hello / cue messages)
    ends: new Map(),     // id -> end PDT (cue_end, or pdt + duration)
    cards: new Map(),    // id -> {el, ...} cards on screen
    polls: {},           // id -> {open, counts}
    stock: {},           // sku -> units
    voted: new Set(),
    buys: new Map(),     // req -> cue id
    viewer: null,
    connected: false,
    syncs: [],           // one per card drawn: {id, kind, cue_pdt, drawn_pdt, diff_ms, via, arrived_before}
    arrivals: new Map(), // id -> PDT on screen when the cue arrived (null: unknown yet)
    log: [],
    clockPdt: null,      // PDT of the frame on screen (last computed)
    via: null,
  };
  window.ccOverlay = { state, pdtNow: () => state.clockPdt };

  const status = (t) => { statusEl.textContent = t; };
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  };
  const randomHex = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, '0')).join('');
  const money = (minor, cur) => {
    try { return new Intl.NumberFormat(undefined, { style: 'currency', currency: cur }).format(minor / 100); }
    catch { return (minor / 100).toFixed(2) + ' ' + cur; }
  };

  // ---- the player and the PDT of the frame on screen ----------------------------------

  let hls = null;
  // hls.js maps media time to PDT for the current position (playingDate);
  // the same offset applies to the presented frame's mediaTime.
  function pdtOffset() {
    if (hls && hls.playingDate) return hls.playingDate.getTime() - video.currentTime * 1000;
    if (video.getStartDate && !isNaN(video.getStartDate().getTime())) return video.getStartDate().getTime(); // Safari
    return null;
  }

  function onFrame(pdt, via) {
    if (pdt === null || !isFinite(pdt)) return;
    state.clockPdt = pdt;
    state.via = via;
    render(pdt, via);
  }

  function startClock() {
    if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
      // The frame actually presented: keyed on it, a card lands on that frame.
      const cb = (now, md) => {
        const off = pdtOffset();
        if (off !== null) onFrame(md.mediaTime * 1000 + off, 'rvfc');
        video.requestVideoFrameCallback(cb);
      };
      video.requestVideoFrameCallback(cb);
    }
    // Every animation frame too: countdowns tick while paused, and browsers
    // without requestVideoFrameCallback use hls.playingDate here.
    const raf = () => {
      if (!('requestVideoFrameCallback' in HTMLVideoElement.prototype) || video.paused) {
        const off = pdtOffset();
        if (off !== null) onFrame(video.currentTime * 1000 + off, 'raf');
      } else if (state.clockPdt !== null) {
        tickCountdowns(state.clockPdt);
      }
      requestAnimationFrame(raf);
    };
    requestAnimationFrame(raf);
  }

  async function startPlayer() {
    let origin = qs.get('origin');
    if (!origin) {
      try { origin = (await (await fetch('/v1/config')).json()).origin; } catch { origin = ''; }
    }
    const src = `${origin.replace(/\/$/, '')}/live/${encodeURIComponent(name)}/index.m3u8`;
    if (window.Hls && Hls.isSupported()) {
      hls = new Hls({ lowLatencyMode: true, backBufferLength: 30 });
      window.ccOverlay.hls = hls;
      hls.on(Hls.Events.ERROR, (e, d) => { if (d.fatal) { state.log.push('hls fatal: ' + d.details); setTimeout(() => hls.startLoad(), 1000); } });
      hls.loadSource(src);
      hls.attachMedia(video);
      // ---- low-latency catch-up (owned by the edge/LL-HLS work: bench/latency.py, docs/benchmarks.md) ----
      // hls.js picks its distance from the live edge when the first playlist arrives and starts
      // playing 0.3-1 s later; it never makes that up (its playbackRate catch-up needs > 1 s of
      // forward buffer, which a 0.6 s PART-HOLD-BACK never has). So: after a second of playback,
      // if more than 0.2 s behind hls.js's own target latency (the server's PART-HOLD-BACK), seek to
      // its live sync position; at most 3 times, 3 s apart. The same rule as the latency bench's
      // player page with --resync (tests/integration/player/player.html).
      let playingSince = 0, lastSync = 0, syncs = 0;
      video.addEventListener('playing', () => { if (!playingSince) playingSince = Date.now(); });
      video.addEventListener('timeupdate', () => {
        const now = Date.now();
        if (!playingSince || syncs >= 3 || now - playingSince < 1000 || now - lastSync < 3000) return;
        if (hls.liveSyncPosition && hls.latency - hls.targetLatency > 0.2) {
          syncs++;
          lastSync = now;
          video.currentTime = hls.liveSyncPosition;
        }
      });
      // ---- end of low-latency catch-up ----
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = src; // Safari: native HLS, PDT from getStartDate()
    }
    video.play().catch(() => {});
    startClock();
  }

  // ---- the WebSocket -------------------------------------------------------------------

  let ws = null;
  let backoff = 500;
  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const saved = localStorage.getItem('cartcast.viewer');
    const q = saved ? `?viewer=${encodeURIComponent(saved)}` : '';
    ws = new WebSocket(`${proto}//${location.host}/v1/streams/${encodeURIComponent(name)}/ws${q}`);
    ws.onopen = () => { backoff = 500; };
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch { return; }
      if (window.ccChat) window.ccChat.handle(m); // the chat panel (chat.js)
      handle(m);
    };
    ws.onclose = (ev) => {
      state.connected = false;
      if (ev.code === 4404) { status('unknown stream'); return; }
      if (ev.code === 4003) { status('you are banned from this stream'); return; }
      status('reconnecting…');
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }
  const send = (o) => { if (ws && ws.readyState === 1) ws.send(JSON.stringify(o)); };
  window.ccOverlay.send = send; // chat.js and gift.js send through the same WebSocket

  function addCue(c) {
    if (state.cues.has(c.id)) return;
    state.cues.set(c.id, c);
    state.arrivals.set(c.id, state.clockPdt);
    if (c.end_pdt_ms) state.ends.set(c.id, c.end_pdt_ms);
  }

  function handle(m) {
    // other scripts on the page (gift.js) see every message too
    window.dispatchEvent(new CustomEvent('cc:message', { detail: m }));
    switch (m.type) {
      case 'hello':
        state.connected = true;
        state.viewer = m.viewer;
        localStorage.setItem('cartcast.viewer', m.token);
        for (const c of m.cues) addCue(c);
        Object.assign(state.polls, m.polls);
        Object.assign(state.stock, m.stock);
        status('live');
        break;
      case 'cue':
        addCue(m.cue);
        if (m.cue.kind === 'poll') state.polls[m.cue.id] = state.polls[m.cue.id] || { open: true, counts: m.cue.poll.options.map(() => 0) };
        break;
      case 'cue_end':
        state.ends.set(m.id, m.end_pdt_ms);
        break;
      case 'poll': case 'tally':
        state.polls[m.id] = { open: m.open, counts: m.counts };
        updatePoll(m.id);
        break;
      case 'stock':
        state.stock[m.sku] = m.stock;
        for (const [id, card] of state.cards) if (card.sku === m.sku) updateStock(id);
        break;
      case 'ack':
        if (m.action === 'buy') result(state.buys.get(m.req), 'Order received…', '');
        break;
      case 'error':
        if (m.action === 'buy') result(state.buys.get(m.req), m.message, 'bad');
        if (m.action === 'vote') state.log.push('vote: ' + m.message);
        break;
      case 'order': {
        const id = state.buys.get(m.req) || m.cue;
        if (m.status === 'confirmed') result(id, `Confirmed · order ${m.order}`, 'ok');
        else if (m.status === 'sold_out') result(id, m.reason ? `Sold out (${m.reason})` : 'Sold out', 'bad');
        else result(id, m.reason || m.status, 'bad');
        if (m.sku && m.stock !== undefined && m.stock !== '' && Number(m.stock) >= 0) {
          state.stock[m.sku] = Number(m.stock);
          for (const [cid, card] of state.cards) if (card.sku === m.sku) updateStock(cid);
        }
        break;
      }
      default:
        break;
    }
  }

  // ---- drawing ---------------------------------------------------------------------------

  function render(pdt, via) {
    for (const [id, c] of state.cues) {
      const end = state.ends.get(id);
      const shown = state.cards.has(id);
      // PDTs are whole milliseconds in the playlist: compare at that precision
      // (mediaTime * 1000 + offset lands a hair under the frame's own PDT).
      const at = Math.round(pdt);
      if (!shown && c.pdt_ms <= at && !(end !== undefined && end <= at)) {
        draw(c);
        const arr = state.arrivals.get(id);
        state.syncs.push({ id, kind: c.kind, cue_pdt: c.pdt_ms, drawn_pdt: Math.round(pdt), diff_ms: Math.round(pdt - c.pdt_ms),
          via, arrived_before: arr !== null && arr !== undefined && arr < c.pdt_ms, at: Date.now() });
      } else if (shown && end !== undefined && end <= at) {
        state.cards.get(id).el.remove();
        state.cards.delete(id);
        state.cues.delete(id);
      }
    }
    tickCountdowns(pdt);
  }

  function result(id, text, cls) {
    const card = id && state.cards.get(id);
    if (!card || !card.result) return;
    card.result.textContent = text;
    card.result.className = 'result ' + cls;
  }

  function updateStock(id) {
    const card = state.cards.get(id);
    if (!card || !card.stockEl) return;
    const c = card.cue;
    const live = state.stock[c.product.sku];
    const shown = c.product.stock_shown;
    const n = live !== undefined ? live : typeof shown === 'number' ? shown : undefined;
    if (shown === false || n === undefined) { card.stockEl.textContent = ''; return; }
    card.stockEl.textContent = n <= 0 ? 'Sold out' : n <= 10 ? `Only ${n} left` : `${n} in stock`;
    card.stockEl.className = 'stock' + (n > 10 ? ' ok' : '');
    if (card.buy) card.buy.disabled = n <= 0;
  }

  function draw(c) {
    let card;
    if (c.kind === 'product' || c.kind === 'buy_button') card = productCard(c);
    else if (c.kind === 'poll') card = pollCard(c);
    else if (c.kind === 'countdown') card = countdownCard(c);
    else return;
    card.cue = c;
    card.el.dataset.cue = c.id;
    card.el.dataset.kind = c.kind;
    state.cards.set(c.id, card);
    cardsEl.prepend(card.el);
    if (card.stockEl) updateStock(c.id);
    if (c.kind === 'poll') updatePoll(c.id);
  }

  function productCard(c) {
    const p = c.product;
    const root = el('div', 'card product');
    if (p.image_url && /^https?:\/\//.test(p.image_url)) {
      const img = el('img');
      img.alt = '';
      img.referrerPolicy = 'no-referrer';
      img.src = p.image_url;
      root.append(img);
    } else {
      root.classList.add('noimg');
    }
    const body = el('div');
    if (p.title) body.append(el('div', 'title', p.title));
    body.append(el('div', 'price', money(p.price, p.currency)));
    const stockEl = el('div', 'stock');
    body.append(stockEl);
    const actions = el('div', 'actions');
    const buy = el('button', 'buy', p.label || 'Buy now');
    buy.addEventListener('click', () => {
      const req = 'b' + randomHex(6);
      state.buys.set(req, c.id);
      send({ type: 'buy', cue_id: c.id, sku: p.sku, qty: 1, idempotency_key: randomHex(12), req });
      result(c.id, 'Sending…', '');
    });
    actions.append(buy);
    body.append(actions);
    root.append(body);
    const res = el('div', 'result');
    root.append(res);
    return { el: root, sku: p.sku, stockEl, buy, result: res };
  }

  function pollCard(c) {
    const root = el('div', 'card poll');
    root.append(el('div', 'q', c.poll.question));
    const opts = c.poll.options.map((text, i) => {
      const b = el('button', 'opt');
      const bar = el('div', 'bar');
      const label = el('span', null, text);
      const pct = el('span', 'pct', '');
      b.append(bar, label, pct);
      b.addEventListener('click', () => {
        if (state.voted.has(c.id)) return;
        state.voted.add(c.id);
        send({ type: 'vote', poll_id: c.id, option: i, req: 'v' + randomHex(4) });
      });
      root.append(b);
      return { b, bar, pct };
    });
    return { el: root, opts };
  }

  function updatePoll(id) {
    const card = state.cards.get(id);
    const p = state.polls[id];
    if (!card || !card.opts || !p) return;
    const total = p.counts.reduce((s, x) => s + x, 0);
    card.opts.forEach((o, i) => {
      const share = total ? Math.round((100 * (p.counts[i] || 0)) / total) : 0;
      o.bar.style.width = share + '%';
      o.pct.textContent = total ? ` · ${share}%` : '';
      o.b.disabled = !p.open;
    });
  }

  function countdownCard(c) {
    const root = el('div', 'card countdown');
    root.append(el('div', 'title', c.countdown.title));
    const t = el('div', 't', '');
    root.append(t);
    return { el: root, t, endsAt: c.pdt_ms + c.countdown.seconds * 1000 };
  }

  function tickCountdowns(pdt) {
    for (const card of state.cards.values()) {
      if (!card.t) continue;
      const left = Math.max(0, Math.ceil((card.endsAt - pdt) / 1000));
      const text = left > 0 ? `${String(Math.floor(left / 60)).padStart(2, '0')}:${String(left % 60).padStart(2, '0')}` : 'Ended';
      if (card.t.textContent !== text) card.t.textContent = text;
    }
  }

  if (!name) { status('no stream in the URL'); return; }
  connect();
  startPlayer();
})();
