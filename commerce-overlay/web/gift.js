// Virtual gifts on the viewer page (docs/gifts-and-shop.md): the gift bar
// (catalog + coin balance), the animation when anyone in the room sends a
// gift, and the room's top gifters. Listens to the overlay's WebSocket
// through overlay.js ('cc:message' events, window.ccOverlay.send). Every
// text goes in with textContent, never as HTML.
(() => {
  'use strict';
  const root = document.getElementById('gifts');
  if (!root) return;
  const state = { catalog: [], balance: null, top: [], shown: [], pending: new Map(), viewer: null, seq: 0 };
  window.ccGifts = { state };
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  };
  const who = (id) => (id === state.viewer ? 'you' : 'viewer ' + String(id).slice(1, 7));
  const randomKey = () => Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');

  const bar = el('div', 'giftbar');
  const balanceEl = el('div', 'balance');
  const board = el('ol', 'top');
  const boardBox = el('div', 'board');
  boardBox.append(el('div', 'board-title', 'Top gifters'), board);
  const fx = el('div', 'giftfx');
  const note = el('div', 'giftnote');
  root.append(boardBox, fx, bar, balanceEl, note);

  function renderBar() {
    bar.replaceChildren();
    for (const g of state.catalog) {
      const b = el('button', 'gift');
      b.type = 'button';
      b.dataset.gift = g.id;
      b.title = `${g.name} · ${g.price} coins`;
      if (g.image) { const i = el('img'); i.src = g.image; i.alt = ''; b.append(i); }
      b.append(el('span', 'gname', g.name), el('span', 'gprice', `${g.price}`));
      // dimmed, not disabled: the balance shown may be stale (a credit since), the server decides
      b.classList.toggle('short', state.balance !== null && state.balance < g.price);
      b.addEventListener('click', () => send(g.id));
      bar.append(b);
    }
    balanceEl.textContent = state.balance === null ? '' : `${state.balance} coins`;
  }

  function send(id) {
    const req = 'g' + (++state.seq);
    const key = randomKey();
    state.pending.set(req, { id, key });
    window.ccOverlay.send({ type: 'gift', gift: id, idempotency_key: key, req });
  }

  function renderBoard() {
    board.replaceChildren();
    for (const t of state.top.slice(0, 5)) {
      const li = el('li');
      li.append(el('span', 'who', who(t.viewer)), el('span', 'coins', `${t.coins}`));
      board.append(li);
    }
    boardBox.hidden = state.top.length === 0;
  }

  // One flying gift per message; at most 12 on screen (a burst drops the oldest).
  function animate(m) {
    const g = state.catalog.find((x) => x.id === m.gift);
    const item = el('div', 'flying');
    const img = m.image || (g && g.image);
    if (img) { const i = el('img'); i.src = img; i.alt = ''; item.append(i); }
    item.append(el('div', 'label', `${who(m.viewer)} sent ${m.name || m.gift}`));
    item.style.left = `${10 + Math.random() * 60}%`;
    fx.append(item);
    state.shown.push({ gift: m.gift, viewer: m.viewer, at: Date.now() });
    while (fx.children.length > 12) fx.firstChild.remove();
    setTimeout(() => item.remove(), 3200);
  }

  window.addEventListener('cc:message', (ev) => {
    const m = ev.detail;
    switch (m.type) {
      case 'hello':
        state.viewer = m.viewer;
        break;
      case 'gifts':
        state.catalog = m.catalog;
        state.balance = m.balance;
        root.hidden = state.catalog.length === 0;
        renderBar();
        break;
      case 'gift':
        animate(m);
        break;
      case 'balance': // coins credited (admin, payment provider): the new balance
        state.balance = m.balance;
        renderBar();
        break;
      case 'leaderboard':
        state.top = m.top;
        renderBoard();
        break;
      case 'ack':
        if (m.action !== 'gift') break;
        state.pending.delete(m.req);
        state.balance = m.balance;
        note.textContent = '';
        renderBar();
        break;
      case 'error':
        if (m.action !== 'gift') break;
        state.pending.delete(m.req);
        if (m.balance !== undefined) state.balance = m.balance;
        note.textContent = m.code === 'insufficient_coins' ? 'Not enough coins for this gift' : m.message;
        renderBar();
        break;
      default:
        break;
    }
  });
})();
