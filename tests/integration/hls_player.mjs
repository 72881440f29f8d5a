#!/usr/bin/env node
// Plays an HLS URL with hls.js (lowLatencyMode) in Debian's headless Chromium for
// N seconds and prints what a viewer got, as JSON:
//
//   node tests/integration/hls_player.mjs URL [--seconds 8] [--warmup 2] [--out FILE]
//        [--screenshot FILE.png] [--config '{"hls.js option": value}'] [--verbose] [--trace N] [--resync]
//
//   {"played": true, "currentTimeAdvance": 6.9, "fatalErrors": [],
//    "latency": {"p50": 712, "p90": 801, "min": 650, "max": 900, "samples": 61},   (ms)
//    "hlsLatency": {...}, "stalls": 0, "startupMs": 900, "latencyValues": [ms, ...],
//    "timeline": [[wall ms, currentTime, playingDate ms, readyState, paused], ...], ...}
//
// latency is Date.now() - hls.playingDate, sampled every 100 ms while the video
// plays, after the first --warmup seconds of playback. Exit status: 0 when the
// video played (currentTime advanced by at least 1 s, or a quarter of the run)
// with no fatal hls.js error, 1 otherwise, 2 for a harness failure (no browser,
// no node_modules, bad usage).
//
// The page (player/player.html) and hls.min.js (node_modules/hls.js) are served
// from 127.0.0.1 on a free port by this script; the browser is /usr/bin/chromium
// (CC_CHROMIUM overrides it) with a fresh profile in a temp dir, removed at exit.
import { createServer } from 'node:http';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const HLSJS = path.join(ROOT, 'node_modules', 'hls.js', 'dist', 'hls.min.js');
const PAGE = path.join(HERE, 'player', 'player.html');
const CHROMIUM = process.env.CC_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

function usage(msg) {
  if (msg) process.stderr.write(`hls_player: ${msg}\n`);
  process.stderr.write('usage: node hls_player.mjs URL [--seconds N] [--warmup S] [--out FILE] ' +
    '[--screenshot FILE] [--config JSON] [--verbose] [--trace N] [--resync]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const a = { url: null, seconds: 8, warmup: 2, out: null, screenshot: null, config: {}, verbose: false, trace: 0 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => { if (i + 1 >= argv.length) usage(`${k} needs a value`); return argv[++i]; };
    if (k === '--seconds') a.seconds = Number(val());
    else if (k === '--warmup') a.warmup = Number(val());
    else if (k === '--out') a.out = val();
    else if (k === '--screenshot') a.screenshot = val();
    else if (k === '--config') a.config = JSON.parse(val());
    else if (k === '--verbose' || k === '-v') a.verbose = true;
    else if (k === '--trace') a.trace = Number(val());
    else if (k === '--resync') a.resync = true;
    else if (k === '--help' || k === '-h') usage();
    else if (k.startsWith('--')) usage(`unknown option ${k}`);
    else if (!a.url) a.url = k;
    else usage(`unexpected argument ${k}`);
  }
  if (!a.url) usage('no URL');
  if (!(a.seconds > 0) || !(a.warmup >= 0)) usage('bad --seconds/--warmup');
  return a;
}

export function percentile(values, p) {
  if (!values.length) return null;
  const v = [...values].sort((x, y) => x - y);
  return v[Math.max(0, Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1))];
}

function stats(values, digits = 0) {
  const r = (x) => (x === null ? null : Number(x.toFixed(digits)));
  if (!values.length) return { p50: null, p90: null, min: null, max: null, mean: null, samples: 0 };
  return {
    p50: r(percentile(values, 50)), p90: r(percentile(values, 90)),
    min: r(Math.min(...values)), max: r(Math.max(...values)),
    mean: r(values.reduce((s, x) => s + x, 0) / values.length), samples: values.length,
  };
}

function serve() {
  const files = { '/player.html': [PAGE, 'text/html'], '/hls.min.js': [HLSJS, 'text/javascript'] };
  const server = createServer(async (req, res) => {
    const f = files[new URL(req.url, 'http://x').pathname];
    if (!f) { res.writeHead(404).end(); return; }
    try {
      const body = await readFile(f[0]);
      res.writeHead(200, { 'Content-Type': f[1], 'Cache-Control': 'no-store' }).end(body);
    } catch (e) {
      res.writeHead(500).end(String(e));
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

export async function play(opts) {
  const { url, seconds, warmup = 2, config = {}, verbose = false, screenshot = null, trace = 0, resync = false } = opts;
  if (!existsSync(HLSJS)) throw new Error(`${HLSJS} is missing: run scripts/deps.sh (npm ci)`);
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/deps.sh (apt chromium)`);
  const { chromium } = await import('playwright-core');
  const server = await serve();
  const profile = await mkdtemp(path.join(tmpdir(), 'cc-chromium-'));
  let context;
  const consoleErrors = [];
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 660, height: 400 },
    });
    const page = context.pages()[0] || await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error' && consoleErrors.length < 50) consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => { if (consoleErrors.length < 50) consoleErrors.push('pageerror: ' + e.message); });
    // --trace N: the first N media requests: [start ms since the page load, total ms, status, path,
    // {ttfb: ms from sending the request to the first response byte}] (Chromium's own timing)
    const requests = [];
    let loadedAtRef = Date.now();
    if (trace > 0) {
      const done = (r, status) => {
        const u = r.url();
        if (requests.length >= trace || u.includes('/player.html') || u.endsWith('hls.min.js') || u.startsWith('blob:')) return;
        const tm = r.timing();
        requests.push([Math.round(tm.startTime - loadedAtRef), Math.round(tm.responseEnd), status,
                       u.replace(/^https?:\/\/[^/]+/, ''), { ttfb: Math.round(tm.responseStart - tm.requestStart) }]);
      };
      page.on('requestfinished', async (r) => { const resp = await r.response(); done(r, resp ? resp.status() : null); });
      page.on('requestfailed', (r) => done(r, 'failed: ' + (r.failure() && r.failure().errorText)));
    }
    const port = server.address().port;
    const q = new URLSearchParams({ src: url, config: JSON.stringify(config), resync: resync ? '1' : '0' });
    const loadedAt = Date.now();
    loadedAtRef = loadedAt;
    await page.goto(`http://127.0.0.1:${port}/player.html?${q}`, { waitUntil: 'load', timeout: 30000 });
    const end = loadedAt + seconds * 1000;
    while (Date.now() < end) {
      await page.waitForTimeout(Math.min(1000, Math.max(0, end - Date.now())));
      if (verbose) {
        const s = await page.evaluate(() => {
          const x = window.ccPlayer.state;
          return [x.currentTime, x.latency.length ? x.latency[x.latency.length - 1][1] : null,
                  x.stalls, x.fatalErrors.length];
        });
        process.stderr.write(`hls_player: t=${s[0].toFixed(2)} latency=${s[1]}ms stalls=${s[2]} fatal=${s[3]}\n`);
      }
    }
    const st = await page.evaluate(() => window.ccPlayer.snapshot());
    if (screenshot) await page.screenshot({ path: screenshot });
    const browserVersion = context.browser() ? context.browser().version() : null;
    const res = summarize(st, { url, seconds, warmup, loadedAt, browserVersion, consoleErrors });
    if (trace > 0) res.requests = requests;
    return res;
  } finally {
    if (context) await context.close().catch(() => {});
    server.close();
    await rm(profile, { recursive: true, force: true });
  }
}

function summarize(st, ctx) {
  const firstAt = st.firstPlayingAt;
  const after = firstAt ? firstAt + ctx.warmup * 1000 : Infinity;
  const lat = st.latency.filter(([t]) => t >= after).map(([, v]) => v);
  const hl = st.hlsLatency.filter(([t]) => t >= after).map(([, v]) => v * 1000);
  const advance = firstAt ? st.currentTime - st.firstPlayingTime : 0;
  const played = !!firstAt && advance >= Math.min(1, ctx.seconds / 4);
  return {
    url: ctx.url,
    seconds: ctx.seconds,
    warmup: ctx.warmup,
    browser: ctx.browserVersion,
    hlsjs: st.hlsVersion,
    mseH264Aac: st.codecs['avc1.64001f,mp4a.40.2'],
    played,
    currentTimeAdvance: Number(advance.toFixed(3)),
    startupMs: firstAt ? firstAt - ctx.loadedAt : null,
    fatalErrors: st.fatalErrors,
    errors: st.errors,
    stalls: st.stalls,
    resyncs: st.resyncs,
    ended: st.ended,
    discontinuities: st.discontinuities,
    latency: stats(lat),
    hlsLatency: stats(hl),
    latencyAllSamples: st.latency.length,
    latencyValues: lat,
    details: st.details,
    timeline: st.timeline,
    events: st.events,
    consoleErrors: ctx.consoleErrors,
  };
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const watchdog = setTimeout(() => {
    process.stderr.write('hls_player: watchdog: the run overstayed; exiting\n');
    process.exit(2);
  }, (a.seconds + 90) * 1000);
  watchdog.unref();
  let res;
  try {
    res = await play(a);
  } catch (e) {
    process.stderr.write(`hls_player: ${e && e.stack ? e.stack : e}\n`);
    process.exit(2);
  }
  const text = JSON.stringify(res, null, 2);
  if (a.out) await writeFile(a.out, text + '\n');
  process.stdout.write(text + '\n');
  const ok = res.played && res.fatalErrors.length === 0;
  if (!ok) process.stderr.write(`hls_player: FAILED: played=${res.played} fatalErrors=${JSON.stringify(res.fatalErrors)}\n`);
  process.exitCode = ok ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
