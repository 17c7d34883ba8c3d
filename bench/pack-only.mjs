#!/usr/bin/env node
// Pack throughput of src/pack against the `tar -cf - DIR | zstd -3 -T2` pipeline, on two
// shapes of episode: (a) 16 x 32 MB semi-compressible JSON-lines files, (b) 20 000 x 4 KB
// files. Not part of the test suite: it needs ~600 MB of disk and a built dist/.
//
//   npx tsc -p tsconfig.json && node bench/pack-only.mjs [--dir /tmp/shipper-bench] [--runs 3]
//                                                       [--level 3] [--frame-mib 4] [--parallel N] [--shape ab]
//
// The data is generated once (deterministic PRNG) and reused; the page cache is warm for
// both contenders (each is run once untimed first), so this compares CPU paths, not disks.
// Numbers are input MB/s (1 MB = 1e6 bytes of file content), best and median of the runs,
// with CPU seconds (all threads; for the pipeline tar + zstd): on a busy host the CPU
// time is the steadier figure. On a shared host, `chrt -f 10 node bench/pack-only.mjs`
// gives both contenders the machine (children inherit the policy).
//
// Measured 2026-11-22 on a 2-vCPU VM (Xeon 2.5 GHz, no SHA extensions), level 3, 4 MiB
// frames, parallel 2, under chrt (medians of 5):
//   (a) 16 x 32 MB jsonl  packEpisode 129 MB/s, 7.4 s CPU | tar|zstd -3 -T2 136 MB/s, 6.5 s CPU
//   (b) 20000 x 4 KB      packEpisode  60 MB/s, 2.3 s CPU | tar|zstd -3 -T2 111 MB/s, 1.2 s CPU
// (b) is bound by the main thread: per file six syscalls, a tar-stream entry, and the
// sha-256 of the output, ~60 µs in all.

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { URL } from 'node:url';
import { parseArgs } from 'node:util';
import { prng } from './lib/prng.mjs';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: '/tmp/shipper-bench' },
    runs: { type: 'string', default: '3' },
    level: { type: 'string', default: '3' },
    'frame-mib': { type: 'string', default: '4' },
    parallel: { type: 'string' },
    shape: { type: 'string', default: 'ab' },
  },
});
const root = values.dir;
const runs = Number(values.runs);
const level = Number(values.level);
const frameBytes = Number(values['frame-mib']) * 1024 * 1024;
const parallel = values.parallel === undefined ? undefined : Number(values.parallel);

const { packEpisode } = await import(new URL('../dist/pack/index.js', import.meta.url).href);
const { createLogger } = await import(new URL('../dist/log/logger.js', import.meta.url).href);
/** The pack's own summary line (event=pack_done: frames, io mode, ms), printed as it comes. */
const debugLog = createLogger({ level: 'debug', journald: true, write: (l) => process.stdout.write(`    ${l.slice(3)}`) });

async function genJsonl(dir) {
  await mkdir(dir, { recursive: true });
  const rnd = prng(42);
  const sensors = ['imu', 'lidar', 'cam-left', 'cam-right', 'gps', 'wheel-odom', 'battery', 'temp'];
  for (let f = 0; f < 16; f++) {
    const path = join(dir, `telemetry-${String(f).padStart(2, '0')}.jsonl`);
    const out = createWriteStream(path);
    let written = 0;
    let t = 1_700_000_000_000 + f * 1e7;
    const target = 32_000_000;
    while (written < target) {
      let block = '';
      for (let i = 0; i < 2000; i++) {
        t += Math.floor(rnd() * 20);
        const s = sensors[Math.floor(rnd() * sensors.length)];
        block +=
          `{"t":${t},"sensor":"${s}","seq":${Math.floor(rnd() * 1e6)},` +
          `"x":${(rnd() * 200 - 100).toFixed(6)},"y":${(rnd() * 200 - 100).toFixed(6)},` +
          `"z":${(rnd() * 10).toFixed(4)},"ok":${rnd() > 0.01}}\n`;
      }
      const buf = Buffer.from(block.slice(0, Math.min(block.length, target - written)));
      written += buf.length;
      if (!out.write(buf)) await new Promise((r) => out.once('drain', r));
    }
    await new Promise((resolve, reject) => out.end((err) => (err ? reject(err) : resolve())));
  }
}

async function genSmall(dir) {
  const rnd = prng(7);
  for (let d = 0; d < 100; d++) {
    const sub = join(dir, `d${String(d).padStart(3, '0')}`);
    await mkdir(sub, { recursive: true });
    for (let i = 0; i < 200; i++) {
      let s = '';
      while (s.length < 4096) s += `${Math.floor(rnd() * 1e9).toString(36)} sample=${(rnd() * 1000).toFixed(3)}\n`;
      await writeFile(join(sub, `f${String(i).padStart(4, '0')}.txt`), s.slice(0, 4096));
    }
  }
}

/** `tar -cf - id | zstd -L -T2 > out`, two processes as a shell would run them; returns their CPU seconds. */
async function pipeline(parent, id, outFile) {
  const tarTimes = join(root, '.time-tar');
  const zstdTimes = join(root, '.time-zstd');
  const timed = (file, argv) => ['/usr/bin/time', '-f', '%U %S', '-o', file, ...argv];
  const [ta, ...targs] = timed(tarTimes, ['tar', '-C', parent, '-cf', '-', id]);
  const tar = spawn(ta, targs, { stdio: ['ignore', 'pipe', 'inherit'] });
  const [za, ...zargs] = timed(zstdTimes, ['zstd', `-${level}`, '-T2', '-q', '-c']);
  const zstd = spawn(za, zargs, { stdio: [tar.stdout, 'pipe', 'inherit'] });
  const out = createWriteStream(outFile);
  zstd.stdout.pipe(out);
  const exited = (child) =>
    new Promise((resolve, reject) =>
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${child.spawnfile} exited ${code}`)))),
    );
  await Promise.all([exited(tar), exited(zstd), finished(out)]);
  let cpu = 0;
  for (const f of [tarTimes, zstdTimes]) {
    for (const v of (await readFile(f, 'utf8')).trim().split(/\s+/)) cpu += Number(v);
  }
  return cpu;
}

async function time(fn) {
  const t0 = process.hrtime.bigint();
  const result = await fn();
  return { s: Number(process.hrtime.bigint() - t0) / 1e9, result };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function bench(name, parent, id, inputBytes) {
  const episodeDir = join(parent, id);
  const ours = join(root, `${id}.ours.tar.zst`);
  const theirs = join(root, `${id}.pipe.tar.zst`);
  const r = { ours: [], oursCpu: [], pipe: [], pipeCpu: [], rssMiB: 0 };
  // Run 0 warms the page cache and the JIT for both; runs alternate so that both see the
  // same background load.
  for (let i = 0; i <= runs; i++) {
    await rm(ours, { force: true });
    const c0 = process.cpuUsage();
    const a = await time(async () => {
      const opts = { episodeDir, id, out: ours, level, frameBytes, log: debugLog };
      if (parallel !== undefined) opts.parallel = parallel;
      await packEpisode(opts);
    });
    const c = process.cpuUsage(c0);
    r.rssMiB = Math.max(r.rssMiB, process.memoryUsage().rss / 2 ** 20);
    await rm(theirs, { force: true });
    const b = await time(() => pipeline(parent, id, theirs));
    if (i === 0) continue;
    r.ours.push(a.s);
    r.oursCpu.push((c.user + c.system) / 1e6);
    r.pipe.push(b.s);
    r.pipeCpu.push(b.result);
  }
  const oursBytes = (await stat(ours)).size;
  const pipeBytes = (await stat(theirs)).size;
  const mbs = (s) => (inputBytes / 1e6 / s).toFixed(0);
  const line = (label, wall, cpu, bytes) =>
    `  ${label.padEnd(22)} best ${mbs(Math.min(...wall)).padStart(4)} MB/s, median ${mbs(median(wall)).padStart(4)} MB/s` +
    ` (${median(wall).toFixed(2)} s wall, ${median(cpu).toFixed(2)} s CPU), ${(bytes / 1e6).toFixed(1)} MB out`;
  console.log(`${name}`);
  console.log(line('packEpisode', r.ours, r.oursCpu, oursBytes));
  console.log(line(`tar | zstd -${level} -T2`, r.pipe, r.pipeCpu, pipeBytes));
  console.log(`  max rss of this process: ${r.rssMiB.toFixed(0)} MiB`);
  await rm(ours, { force: true });
  await rm(theirs, { force: true });
}

const jsonl = join(root, 'jsonl');
const small = join(root, 'small');
if (!existsSync(join(jsonl, 'ep-jsonl', 'telemetry-15.jsonl'))) await genJsonl(join(jsonl, 'ep-jsonl'));
if (!existsSync(join(small, 'ep-small', 'd099', 'f0199.txt'))) await genSmall(join(small, 'ep-small'));

console.log(`level ${level}, frame ${frameBytes / 2 ** 20} MiB, parallel ${parallel ?? 'default'}, ${runs} runs, ${os.availableParallelism()} CPUs, load ${os.loadavg()[0].toFixed(1)}`);
if (values.shape.includes('a')) await bench('(a) 16 x 32 MB jsonl', jsonl, 'ep-jsonl', 16 * 32_000_000);
if (values.shape.includes('b')) await bench('(b) 20000 x 4 KB', small, 'ep-small', 20_000 * 4096);
