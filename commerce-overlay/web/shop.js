// The creator's shop page, /shop/CREATOR (docs/gifts-and-shop.md): up to five
// featured products with their live stock, a LIVE badge linking to the
// creator's stream while it is live, and buying through the order service
// (POST /v1/shop/CREATOR/buy, answered with the order's outcome) or through
// the product's own checkout page. Texts go in with textContent only.
(() => {
  'use strict';
  const creator = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || '');
  const $ = (id) => document.getElementById(id);
  const state = { creator, products: [], live: null, token: localStorage.getItem('cartcast.viewer'), viewer: null,
    results: {}, loaded: false };
  window.ccShop = { state };
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  };
  const money = (minor, cur) => {
    try { return new Intl.NumberFormat(undefined, { style: 'currency', currency: cur }).format(minor / 100); }
    catch { return (minor / 100).toFixed(2) + ' ' + cur; }
  };
  const randomKey = () => Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
  $('creator').textContent = `${creator}'s shop`;
  document.title = `${creator} · shop`;

  const cards = new Map(); // sku -> {root, stock, button, result}

  function stockText(p) {
    if (p.stock === null || p.stock === undefined) return ['', false];
    if (p.stock === 0) return ['Sold out', true];
    return [p.stock <= 5 ? `Only ${p.stock} left` : `${p.stock} in stock`, p.stock <= 5];
  }

  function card(p) {
    const root = el('article', 'product');
    root.dataset.sku = p.sku;
    if (p.image_url) { const i = el('img'); i.src = p.image_url; i.alt = ''; root.append(i); }
    root.append(el('div', 'title', p.title));
    if (p.description) root.append(el('div', 'desc', p.description));
    root.append(el('div', 'price', money(p.price, p.currency)));
    const stock = el('div', 'stock');
    root.append(stock);
    let button = null;
    if (p.checkout_url) {
      const a = el('a', 'checkout', 'Buy on the creator\'s site');
      a.href = p.checkout_url; // validated http(s) by the API
      a.target = '_blank';
      a.rel = 'noopener';
      root.append(a);
    } else {
      button = el('button', 'buy', 'Buy');
      button.type = 'button';
      button.addEventListener('click', () => buy(p.sku));
      root.append(button);
    }
    const result = el('div', 'result');
    root.append(result);
    return { root, stock, button, result };
  }

  function render() {
    const box = $('products');
    for (const p of state.products) {
      let c = cards.get(p.sku);
      if (!c) { c = card(p); cards.set(p.sku, c); box.append(c.root); }
      const [t, low] = stockText(p);
      c.stock.textContent = t;
      c.stock.className = low ? 'stock low' : 'stock';
      if (c.button) c.button.disabled = p.stock === 0 || c.busy;
    }
    for (const [sku, c] of cards) if (!state.products.some((p) => p.sku === sku)) { c.root.remove(); cards.delete(sku); }
    $('empty').hidden = state.products.length > 0;
    const live = $('live');
    live.hidden = !state.live;
    if (state.live) live.href = state.live.watch;
  }

  async function load() {
    try {
      const q = state.token ? `?viewer=${encodeURIComponent(state.token)}` : '';
      const r = await fetch(`/v1/shop/${encodeURIComponent(creator)}${q}`);
      const j = await r.json();
      if (!r.ok) throw new Error(j.message || r.status);
      state.products = j.products;
      state.live = j.live;
      state.viewer = j.viewer;
      if (j.token !== state.token) { state.token = j.token; localStorage.setItem('cartcast.viewer', j.token); }
      state.loaded = true;
      render();
    } catch (e) {
      $('empty').hidden = false;
      $('empty').textContent = `The shop is unavailable right now (${e.message}).`;
    }
  }

  async function buy(sku) {
    const c = cards.get(sku);
    c.busy = true;
    c.button.disabled = true;
    c.result.className = 'result';
    c.result.textContent = 'Ordering…';
    const key = randomKey();
    let j = null;
    try {
      // a lost answer is retried with the same key: the order service counts it once
      for (let attempt = 0; attempt < 3; attempt++) {
        const r = await fetch(`/v1/shop/${encodeURIComponent(creator)}/buy`, { method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ sku, qty: 1, idempotency_key: key, viewer: state.token }) }).catch(() => null);
        if (!r) continue;
        j = await r.json().catch(() => ({}));
        j.httpStatus = r.status;
        if (r.status !== 202 && r.status < 500) break;
      }
    } finally {
      c.busy = false;
    }
    state.results[sku] = j;
    if (j && j.status === 'confirmed') {
      c.result.className = 'result ok';
      c.result.textContent = `Confirmed · order ${j.order}`;
      const p = state.products.find((x) => x.sku === sku);
      if (p && j.stock !== '' && Number(j.stock) >= 0) p.stock = Number(j.stock);
    } else {
      c.result.className = 'result bad';
      c.result.textContent = !j ? 'Could not reach the shop: try again'
        : j.status === 'sold_out' ? 'Sold out'
          : j.httpStatus === 202 ? 'Order received: the confirmation is on its way'
            : (j.reason || j.message || j.status || 'Refused');
    }
    render();
  }

  load();
  setInterval(load, 3000); // live stock and the live badge
})();
