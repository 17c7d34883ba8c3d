#!/usr/bin/env node
// The zstd library's own speed on the benchmark's data, compression only: the files are
// read into memory first, cut into frames as the packer cuts them, and compressed
// `--parallel` frames at a time through the same native binding (@mongodb-js/zstd), with
// no tar, no file writes, no hashing. Prints one JSON line {input_bytes, output_bytes, s}.
//
// usage: node zstd-probe.mjs --level 3 --frame-mib 4 --parallel 2 --max-mb 256 FILE...

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { URL } from 'node:url';
import { performance } from 'node:perf_hooks';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { level: { type: 'string', default: '3' }, 'frame-mib': { type: 'string', default: '4' }, parallel: { type: 'string', default: '2' }, 'max-mb': { type: 'string', default: '256' } },
});
const root = new URL('../../', import.meta.url);
const binding = createRequire(root)('@mongodb-js/zstd/bindings.js');
const level = Number(values.level);
const frame = Number(values['frame-mib']) * 1024 * 1024;
const parallel = Number(values.parallel);
const max = Number(values['max-mb']) * 1e6;

const parts = [];
let total = 0;
for (const f of positionals) {
  if (total >= max) break;
  const b = readFileSync(f);
  parts.push(b.subarray(0, Math.min(b.length, max - total)));
  total += parts.at(-1).length;
}
const data = Buffer.concat(parts);
const frames = [];
for (let off = 0; off < data.length; off += frame) frames.push(data.subarray(off, Math.min(off + frame, data.length)));

async function pass() {
  let next = 0;
  let out = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < frames.length) {
        const c = await binding.compress(frames[next++], level);
        out += c.length;
      }
    }),
  );
  return { s: (performance.now() - t0) / 1000, out };
}

await pass(); // warm-up: thread pool, allocator
const runs = [];
for (let i = 0; i < 3; i++) runs.push(await pass());
runs.sort((a, b) => a.s - b.s);
process.stdout.write(JSON.stringify({ input_bytes: data.length, output_bytes: runs[1].out, s: runs[1].s }) + '\n');
