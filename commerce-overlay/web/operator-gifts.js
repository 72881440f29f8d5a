// The operator page's catalog and gifts panels (docs/gifts-and-shop.md): the
// creator's catalog with a one-click "Pin" per product (a product cue built
// from the catalog entry, no typing), the earnings report (sales beside gifts)
// and the stream's top gifters. The creator is the stream picked in
// operator.js (a creator's id is its stream name). Texts via textContent.
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const el = (tag, text) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); return e; };
  const say = (id, text, bad) => { const e = $(id); e.textContent = text; e.className = 'msg' + (bad ? ' bad' : ''); };
  const money = (minor, cur) => {
    try { return new Intl.NumberFormat(undefined, { style: 'currency', currency: cur }).format(minor / 100); }
    catch { return (minor / 100).toFixed(2) + ' ' + cur; }
  };
  const creator = () => $('stream').value;
  const state = { products: [], pinned: [], earnings: null };
  window.ccOperatorGifts = state;

  async function api(method, path, body, headers = {}) {
    const r = await fetch(path, { method, headers: { Authorization: 'Bearer ' + $('token').value,
      'Content-Type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
    const j = await r.json().catch(() => null);
    if (!r.ok) throw new Error(`${r.status} ${j ? j.message || j.error : ''}`);
    return j;
  }

  async function pin(p) {
    const product = { sku: p.sku, title: p.title, price: p.price, currency: p.currency };
    if (p.image_url) product.image_url = p.image_url;
    if (p.max_qty) product.max_qty = p.max_qty;
    try {
      const cue = await api('POST', `/v1/streams/${encodeURIComponent(creator())}/cues`, { kind: 'product', duration_ms: 60000, product },
        { 'Idempotency-Key': `pin-${p.sku}-${Date.now()}` });
      state.pinned.push(cue);
      say('catalog-msg', `pinned ${p.sku} (cue ${cue.id})`);
    } catch (e) { say('catalog-msg', String(e.message), true); }
  }

  async function refresh() {
    const c = creator();
    if (!c || !$('token').value) return;
    $('shop-link').href = '/shop/' + encodeURIComponent(c);
    $('shop-link').textContent = 'shop page: ' + location.origin + '/shop/' + c;
    try {
      const r = await api('GET', `/v1/creators/${encodeURIComponent(c)}/products`);
      state.products = r.products;
      const ul = $('catalog');
      ul.replaceChildren();
      for (const p of r.products) {
        const li = el('li');
        const b = el('button', 'Pin');
        b.type = 'button';
        b.dataset.sku = p.sku;
        b.addEventListener('click', () => pin(p));
        li.append(el('span', `${p.title} · ${money(p.price, p.currency)}`), el('small', p.sku), b);
        ul.append(li);
      }
      if (!r.products.length) say('catalog-msg', 'no products yet: POST /v1/creators/' + c + '/products');
    } catch (e) { say('catalog-msg', String(e.message), true); }
    try {
      const e = await api('GET', `/v1/creators/${encodeURIComponent(c)}/earnings`);
      state.earnings = e;
      const sales = Object.entries(e.sales.amount).map(([cur, v]) => money(v, cur)).join(', ') || 'none';
      say('earnings', `sales: ${e.sales.orders} orders, ${sales}\ngifts: ${e.gifts.gifts} (${e.gifts.coins} coins, creator ${e.gifts.creator_coins})`);
      const ol = $('top-gifters');
      ol.replaceChildren();
      for (const t of e.top) ol.append(el('li', `viewer ${t.viewer.slice(1, 7)} · ${t.coins} coins`));
    } catch (err) { say('earnings', String(err.message), true); }
  }

  $('stream').addEventListener('change', refresh);
  $('token').addEventListener('change', () => setTimeout(refresh, 300));
  setInterval(refresh, 3000);
  setTimeout(refresh, 500);
})();
