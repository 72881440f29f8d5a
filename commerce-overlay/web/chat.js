// cartcast viewer page: the live chat (docs/chat.md). overlay.js owns the
// WebSocket and hands every message to ccChat.handle(); this file draws the
// chat panel and sends chat messages through ccOverlay.send(). Every text a
// viewer wrote goes into the page with textContent, never as HTML.
(() => {
  'use strict';
  const MAX_SHOWN = 200;
  const state = {
    name: '',
    messages: new Map(), // id -> { msg, li }
    pinned: null,
    slowMs: 0,
    holdAll: false,
    maxChars: 300,
    errors: [], // the last error answers, for tests and the status line
    acks: [],
  };
  let reqSeq = 0;
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  };

  // ---- the panel ----------------------------------------------------------------------
  const panel = el('aside', 'chat');
  panel.id = 'chat';
  const pinned = el('div', 'chat-pinned');
  pinned.hidden = true;
  const list = el('ul', 'chat-list');
  list.setAttribute('aria-live', 'polite');
  const form = el('form', 'chat-form');
  const input = el('input');
  input.id = 'chat-input';
  input.placeholder = 'Say something…';
  input.autocomplete = 'off';
  const ask = el('label', 'chat-ask');
  const askBox = el('input');
  askBox.type = 'checkbox';
  askBox.id = 'chat-question';
  ask.append(askBox, document.createTextNode(' question'));
  const sendBtn = el('button', '', 'Send');
  sendBtn.type = 'submit';
  const line = el('div', 'chat-line');
  const nameBtn = el('button', 'chat-name', '');
  nameBtn.type = 'button';
  nameBtn.title = 'change your display name';
  const note = el('div', 'chat-note');
  note.id = 'chat-note';
  form.append(input, sendBtn);
  line.append(nameBtn, ask);
  panel.append(pinned, list, form, line, note);
  (document.getElementById('stage') || document.body).append(panel);

  function noteSet(text, bad) {
    note.textContent = text || '';
    note.className = 'chat-note' + (bad ? ' bad' : '');
  }

  function settingsNote() {
    const parts = [];
    if (state.slowMs > 0) parts.push(`slow mode: one message every ${Math.round(state.slowMs / 1000)} s`);
    if (state.holdAll) parts.push('messages are checked by a moderator before they show');
    noteSet(parts.join(' · '));
  }

  function msgNode(m) {
    const li = el('li', 'chat-msg' + (m.question ? ' question' : ''));
    li.dataset.id = m.id;
    li.append(el('span', 'who', m.name), el('span', 'text', m.text));
    if (m.question) li.append(el('span', 'badge', 'Q'));
    return li;
  }

  function add(m) {
    if (state.messages.has(m.id)) return; // seen in hello and again in a batch
    const li = msgNode(m);
    state.messages.set(m.id, { msg: m, li });
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(li);
    while (list.children.length > MAX_SHOWN) {
      const first = list.firstElementChild;
      state.messages.delete(first.dataset.id);
      first.remove();
    }
    if (nearBottom) list.scrollTop = list.scrollHeight;
  }

  function remove(id) {
    const x = state.messages.get(id);
    if (x) { x.li.remove(); state.messages.delete(id); }
    if (state.pinned && state.pinned.id === id) pin(null);
  }

  function pin(m) {
    state.pinned = m;
    pinned.textContent = '';
    pinned.hidden = !m;
    if (m) pinned.append(el('span', 'badge', 'Pinned'), el('span', 'who', m.name), el('span', 'text', m.text));
  }

  function event(e) {
    switch (e.type) {
      case 'chat': add(e.msg); break;
      case 'chat_delete': remove(e.id); break;
      case 'chat_pin': pin(e.msg); break;
      case 'chat_unpin': pin(null); break;
      case 'chat_answered': {
        const x = state.messages.get(e.id);
        if (x) x.li.classList.add('answered');
        break;
      }
      case 'chat_settings':
        state.slowMs = e.slow_ms;
        state.holdAll = e.hold_all;
        settingsNote();
        break;
      default: break;
    }
  }

  function setName(n) {
    state.name = n;
    nameBtn.textContent = n;
  }

  // Every WebSocket message passes here first (overlay.js).
  function handle(m) {
    if (m.type === 'hello' && m.chat) {
      list.textContent = '';
      state.messages.clear();
      for (const x of m.chat.history) add(x);
      pin(m.chat.pinned);
      state.slowMs = m.chat.slow_ms;
      state.holdAll = m.chat.hold_all;
      state.maxChars = m.chat.limits.max_chars;
      input.maxLength = state.maxChars;
      setName(m.chat.name);
      settingsNote();
      const saved = localStorage.getItem('cartcast.name');
      if (saved && saved !== m.chat.name) send({ type: 'chat_name', name: saved });
    } else if (m.type === 'chat_batch') {
      for (const e of m.events) event(e);
    } else if (m.type === 'chat_name') {
      setName(m.name);
      localStorage.setItem('cartcast.name', m.name);
    } else if (m.type === 'chat_ack') {
      state.acks.push(m);
      if (m.status === 'held') noteSet('Your message waits for a moderator.');
      else if (m.text) noteSet('Your message was edited by the moderation filter.');
    } else if (m.type === 'error' && m.action === 'chat') {
      state.errors.push(m);
      const wait = m.retry_after_ms ? ` (${Math.ceil(m.retry_after_ms / 1000)} s)` : '';
      noteSet(m.message + wait, true);
    } else {
      event(m);
    }
  }

  function send(o) {
    if (!window.ccOverlay || !window.ccOverlay.send) return;
    window.ccOverlay.send(o);
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    send({ type: 'chat', text, question: askBox.checked, req: 'c' + (++reqSeq) });
    input.value = '';
    askBox.checked = false;
    noteSet('');
  });
  nameBtn.addEventListener('click', () => {
    const n = prompt('Your display name (1-32 characters)', state.name);
    if (n && n.trim()) send({ type: 'chat_name', name: n.trim(), req: 'n' + (++reqSeq) });
  });

  window.ccChat = { handle, state, send: (text, question = false) => send({ type: 'chat', text, question, req: 'c' + (++reqSeq) }) };
})();
