// Shared pieces of the overlay's Node tests (test_overlay_ws.mjs) and its
// benchmark client: a real redis-server on a free port, real cartcast-overlay
// binaries, a tiny RESP client, and a WebSocket viewer with a message inbox.
// Node's own modules plus `ws` (package.json); nothing else.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
export const BUILD = process.env.CC_BUILD_DIR || path.join(ROOT, 'build');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function waitFor(pred, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    last = await pred();
    if (last) return last;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}

// ---- RESP2 client --------------------------------------------------------------

export class Resp {
  constructor(port) {
    this.port = port;
    this.buf = Buffer.alloc(0);
    this.waiting = [];
  }

  connect() {
    return new Promise((resolve, reject) => {
      this.sock = net.createConnection({ port: this.port, host: '127.0.0.1' }, () => resolve(this));
      this.sock.setNoDelay(true);
      this.sock.on('error', (e) => { for (const w of this.waiting.splice(0)) w.reject(e); reject(e); });
      this.sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.drain(); });
    });
  }

  // -> [value, nextOffset] or null when incomplete
  parse(off) {
    const b = this.buf;
    const eol = b.indexOf('\r\n', off);
    if (eol < 0) return null;
    const t = String.fromCharCode(b[off]);
    const line = b.toString('utf8', off + 1, eol);
    const next = eol + 2;
    if (t === '+') return [line, next];
    if (t === '-') return [new Error(line), next];
    if (t === ':') return [Number(line), next];
    if (t === '$') {
      const n = Number(line);
      if (n < 0) return [null, next];
      if (b.length < next + n + 2) return null;
      return [b.toString('utf8', next, next + n), next + n + 2];
    }
    if (t === '*') {
      const n = Number(line);
      if (n < 0) return [null, next];
      const out = [];
      let o = next;
      for (let i = 0; i < n; i++) {
        const r = this.parse(o);
        if (!r) return null;
        out.push(r[0]);
        o = r[1];
      }
      return [out, o];
    }
    throw new Error('bad RESP type ' + t);
  }

  drain() {
    while (this.waiting.length) {
      const r = this.parse(0);
      if (!r) return;
      this.buf = this.buf.subarray(r[1]);
      const w = this.waiting.shift();
      if (r[0] instanceof Error) w.reject(r[0]); else w.resolve(r[0]);
    }
  }

  call(...args) {
    const parts = [`*${args.length}\r\n`];
    for (const a of args) {
      const s = Buffer.from(String(a));
      parts.push(`$${s.length}\r\n`, s, '\r\n');
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      for (const p of parts) this.sock.write(p);
    });
  }

  close() { this.sock.destroy(); }
}

export function hash(flat) {
  const o = {};
  for (let i = 0; flat && i < flat.length; i += 2) o[flat[i]] = flat[i + 1];
  return o;
}

// ---- processes -------------------------------------------------------------------

export class Stack {
  // Everything a test starts, stopped (and checked for a clean exit) by stop().
  constructor() {
    this.dir = mkdtempSync(path.join(tmpdir(), 'cc-ov-'));
    this.procs = [];
    this.clients = [];
    this.timers = [];
  }

  async redis() {
    const port = await freePort();
    const dir = path.join(this.dir, `redis-${port}`);
    mkdirSync(dir);
    const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
      '--appendonly', 'no', '--protected-mode', 'no', '--daemonize', 'no', '--logfile', path.join(dir, 'redis.log')],
    { stdio: 'ignore' });
    this.procs.push({ name: 'redis-server', p, redis: true });
    const r = new Resp(port);
    await waitFor(async () => { try { await r.connect(); return true; } catch { return false; } }, 10000, 'redis-server');
    this.clients.push(r);
    r.url = `redis://127.0.0.1:${port}`;
    return r;
  }

  async overlay(redis, args = [], { wait = true } = {}) {
    const port = await freePort();
    const log = path.join(this.dir, `overlay-${port}.log`);
    const fd = openSync(log, 'w');
    const all = ['--redis', redis.url, '--http-port', String(port), '--bind', '127.0.0.1',
      '--viewer-secret', 'test-secret-0123456789', '--log-level', 'info', ...args];
    const p = spawn(path.join(BUILD, 'cartcast-overlay'), all, { stdio: ['ignore', fd, fd] });
    const ov = { port, log, p, url: (s) => `http://127.0.0.1:${port}${s}`, ws: (s) => `ws://127.0.0.1:${port}${s}`,
      readLog: () => readFileSync(log, 'utf8') };
    this.procs.push({ name: 'cartcast-overlay', p, log });
    if (wait) {
      await waitFor(async () => {
        if (p.exitCode !== null) throw new Error(`overlay exited ${p.exitCode}:\n${ov.readLog()}`);
        try { return (await fetch(ov.url('/healthz'))).status === 200; } catch { return false; }
      }, 10000, 'overlay /healthz');
      // both Redis connections up: the metrics say so
      await waitFor(async () => /cartcast_overlay_redis_up\{conn="block"\} 1/.test(await (await fetch(ov.url('/metrics'))).text()),
        10000, 'overlay Redis connections');
    }
    ov.metric = async (name) => {
      const text = await (await fetch(ov.url('/metrics'))).text();
      const m = text.match(new RegExp(`^${name} (\\S+)$`, 'm'));
      return m ? Number(m[1]) : 0;
    };
    return ov;
  }

  // What the origin does (origin/timeline.c), for tests without video:
  // keep cc:{stream:NAME}:live fresh, as if parts arrived every 200 ms.
  fakeLive(redis, name, { live = 1, every = 200 } = {}) {
    const start = Date.now() - 10000;
    const tick = () => {
      const now = Date.now();
      redis.call('HSET', `cc:{stream:${name}}:live`, 'pdt_ms', now, 'media_ms', now - start, 'start_pdt_ms', start,
        'msn', 1, 'part', 0, 'part_seq', 1, 'updated_ms', now, 'live', live).catch(() => {});
    };
    tick();
    const t = setInterval(tick, every);
    this.timers.push(t);
    return () => clearInterval(t);
  }

  async stop() {
    for (const t of this.timers) clearInterval(t);
    const failures = [];
    // overlays first (they must exit 0 on SIGTERM), then Redis
    for (const pr of [...this.procs.filter((x) => !x.redis), ...this.procs.filter((x) => x.redis)]) {
      if (pr.p.exitCode === null && pr.p.signalCode === null) {
        const done = new Promise((r) => pr.p.once('exit', r));
        pr.p.kill('SIGTERM');
        const t = setTimeout(() => pr.p.kill('SIGKILL'), 15000);
        await done;
        clearTimeout(t);
      }
      if (!pr.redis && pr.p.exitCode !== 0)
        failures.push(`${pr.name} exited ${pr.p.exitCode} ${pr.p.signalCode}:\n${readFileSync(pr.log, 'utf8').slice(-4000)}`);
      if (pr.redis) for (const c of this.clients) try { c.close(); } catch { /* closed */ }
    }
    if (!failures.length) rmSync(this.dir, { recursive: true, force: true });
    if (failures.length) throw new Error(failures.join('\n'));
  }
}

// ---- REST and viewers -------------------------------------------------------------

export async function rest(ov, method, pathname, { token, body, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  const r = await fetch(ov.url(pathname), { method, headers: h, body: body === undefined ? undefined
    : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text, headers: r.headers };
}

// A viewer: every message lands in an inbox; next(pred) waits for one.
export class Viewer {
  static async open(url, opts = {}) {
    const v = new Viewer(url, opts);
    await v.opened;
    return v;
  }

  constructor(url, opts = {}) {
    this.msgs = [];
    this.waiters = [];
    this.closed = null;
    this.pings = 0;
    this.ws = new WebSocket(url, { perMessageDeflate: false, ...opts });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
      this.ws.once('close', (code) => resolve(code));
    });
    this.closedP = new Promise((resolve) => this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      resolve(this.closed);
      for (const w of this.waiters.splice(0)) w.check();
    }));
    this.ws.on('ping', () => { this.pings++; });
    this.ws.on('error', () => {});
    this.ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      m._t = Date.now();
      this.msgs.push(m);
      for (const w of [...this.waiters]) w.check();
    });
  }

  // Resolves with the first message (not yet taken) matching pred.
  next(pred, timeoutMs = 5000, what = 'a message') {
    if (typeof pred === 'string') { const type = pred; pred = (m) => m.type === type; what = type; }
    return new Promise((resolve, reject) => {
      const w = {
        check: () => {
          const i = this.msgs.findIndex((m) => !m._taken && pred(m));
          if (i >= 0) {
            this.msgs[i]._taken = true;
            clearTimeout(w.timer);
            this.waiters.splice(this.waiters.indexOf(w), 1);
            resolve(this.msgs[i]);
          } else if (this.closed) {
            clearTimeout(w.timer);
            this.waiters.splice(this.waiters.indexOf(w), 1);
            reject(new Error(`closed (${this.closed.code} ${this.closed.reason}) while waiting for ${what}`));
          }
        },
      };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.msgs.map((m) => m.type))}`));
      }, timeoutMs);
      this.waiters.push(w);
      w.check();
    });
  }

  send(o) { this.ws.send(typeof o === 'string' ? o : JSON.stringify(o)); }
  close() { try { this.ws.close(); } catch { /* gone */ } return this.closedP; }
}

export const TOKEN = 'operator-token-for-tests';

export function productCue(sku = 'MUG-1', extra = {}) {
  return { kind: 'product', product: { sku, title: 'Red mug', price: 1299, currency: 'EUR', ...extra } };
}
