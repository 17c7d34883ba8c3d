#!/usr/bin/env node
// The scan alone, in-process: dist/queue/scan.js's Scanner over an episodes/ folder, timed
// without Node's start-up, config, recovery or lock. The first scan is what `--once` pays;
// the later ones are what each pass of a running daemon pays (the Scanner remembers what
// it saw). Prints one JSON line {first_ms, repeat_ms: [...], ready, not_ready}.
//
// usage: node scan-probe.mjs EPISODES_DIR [REPEATS]

import { performance } from 'node:perf_hooks';
import { URL } from 'node:url';

const [dir, repeats = '5'] = process.argv.slice(2);
const { Scanner } = await import(new URL('../../dist/queue/scan.js', import.meta.url).href);
const scanner = new Scanner({ episodes: dir, readyMarker: 'meta.json', settleMs: 0, requireCodeVersion: false });
const t0 = performance.now();
const first = await scanner.scan(Date.now());
const firstMs = performance.now() - t0;
const repeat = [];
for (let i = 0; i < Number(repeats); i++) {
  const t = performance.now();
  await scanner.scan(Date.now());
  repeat.push(performance.now() - t);
}
process.stdout.write(JSON.stringify({ first_ms: firstMs, repeat_ms: repeat, ready: first.ready.length, not_ready: first.notReady }) + '\n');
