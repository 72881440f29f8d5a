#!/usr/bin/env node
// Parses HLS playlists with npm's hls-parser in strict mode (a second opinion
// beside llhls_check.py's own parser).
//
//   node hls_parse.mjs < playlist.m3u8      one playlist on stdin; prints one JSON
//                                           object; exit 0 if it parses, 1 if not
//   node hls_parse.mjs --jsonl              one JSON object {"text": "..."} per input
//                                           line, one JSON result per output line
//                                           (llhls_check.py keeps one of these running)
//
// Result: {"ok": true, "type": "media"|"multivariant", "summary": {...}}
//      or {"ok": false, "error": "<strict mode's message>", "errors": [every violation]}
import { createInterface } from 'node:readline';
import HLS from 'hls-parser';

HLS.setOptions({ strictMode: true, silent: true });

function summary(pl) {
  if (pl.isMasterPlaylist) {
    return {
      variants: pl.variants.length,
      codecs: pl.variants.map((v) => v.codecs || null),
      bandwidth: pl.variants.map((v) => v.bandwidth),
    };
  }
  const segs = pl.segments || [];
  const last = segs[segs.length - 1];
  return {
    version: pl.version ?? null,
    targetDuration: pl.targetDuration,
    partTargetDuration: pl.partTargetDuration ?? null,
    mediaSequenceBase: pl.mediaSequenceBase ?? null,
    discontinuitySequenceBase: pl.discontinuitySequenceBase ?? null,
    segments: segs.length,
    parts: segs.reduce((n, s) => n + (s.parts ? s.parts.length : 0), 0),
    prefetchSegments: (pl.prefetchSegments || []).length,
    lastSegmentUri: last ? last.uri : null,
    endlist: !!pl.endlist,
    lowLatency: pl.lowLatencyCompatibility || null,
    skip: pl.skip ?? null,
  };
}

// Strict mode stops at the first violation; to list them all, parse again in
// lenient mode, where hls-parser reports each one through console.error.
function allViolations(text) {
  const seen = [];
  const saved = console.error;
  console.error = (msg) => { if (!seen.includes(String(msg))) seen.push(String(msg)); };
  HLS.setOptions({ strictMode: false, silent: false });
  try {
    HLS.parse(text);
  } catch (e) {
    seen.push(String(e && e.message ? e.message : e));
  } finally {
    console.error = saved;
    HLS.setOptions({ strictMode: true, silent: true });
  }
  return seen;
}

function parseOne(text) {
  try {
    const pl = HLS.parse(text);
    return { ok: true, type: pl.isMasterPlaylist ? 'multivariant' : 'media', summary: summary(pl) };
  } catch (e) {
    const error = String(e && e.message ? e.message : e);
    const errors = allViolations(text);
    if (!errors.includes(error)) errors.unshift(error);
    return { ok: false, error, errors };
  }
}

if (process.argv.includes('--jsonl')) {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let res;
    try {
      res = parseOne(JSON.parse(line).text);
    } catch (e) {
      res = { ok: false, error: 'bad input line: ' + e.message };
    }
    process.stdout.write(JSON.stringify(res) + '\n');
  }
} else {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const res = parseOne(Buffer.concat(chunks).toString('utf8'));
  process.stdout.write(JSON.stringify(res, null, 2) + '\n');
  process.exitCode = res.ok ? 0 : 1;
}
