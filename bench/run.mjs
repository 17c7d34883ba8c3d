#!/usr/bin/env node
// `npm run bench`: the shipper against the operator's shell loop and against the machine's
// physical limits, on datasets it generates in a temp folder, with the reference receiver
// on loopback as a child process. Prints one table of medians (each figure beside its
// baseline measured in the same run, and its target) and writes a JSON copy.
// docs/performance.md explains every figure. Needs: node, bash, tar, zstd, curl, openssl,
// python3, and a built dist/ (`npm run build`).
//
//   npm run bench -- --help     (the options, with their defaults)
//
// MB is 10^6 bytes throughout; throughput is the episode's file bytes over wall time.

import { existsSync } from 'node:fs';
import { link, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { buildEpisodes, jsonlEpisode, randomEpisode, smallFilesEpisode, writeMeta } from './lib/data.mjs';
import { curlUpload, makeArchive, zstdCommand, zstdLibrary } from './lib/limits.mjs';
import { idle, ready, scan } from './lib/quiet.mjs';
import { fmt, MB, renderTable } from './lib/table.mjs';
import { pair, solo } from './lib/throughput.mjs';
import { throttle } from './lib/throttle.mjs';
import { ROOT, World } from './lib/world.mjs';

const ALL = ['limits', 'backlog', 'big', 'small', 'rss', 'throttle', 'scan', 'ready', 'idle'];
const options = {
  runs: { type: 'string', default: '3' },
  only: { type: 'string', default: ALL.join(',') },
  'backlog-episodes': { type: 'string', default: '16' },
  'backlog-mb': { type: 'string', default: '32' },
  'big-mb': { type: 'string', default: '1024' },
  'small-files': { type: 'string', default: '20000' },
  'small-kb': { type: 'string', default: '4' },
  'rss-mb': { type: 'string', default: '1024,4096' },
  'scan-folders': { type: 'string', default: '100000' },
  'idle-shipped': { type: 'string', default: '10000' },
  'idle-unready': { type: 'string', default: '1000' },
  'idle-s': { type: 'string', default: '20' },
  'ready-runs': { type: 'string', default: '5' },
  'throttle-mb': { type: 'string', default: '200' },
  'throttle-rate-mb': { type: 'string', default: '20' },
  level: { type: 'string', default: '3' },
  'skip-sink': { type: 'boolean', default: false },
  dir: { type: 'string', default: tmpdir() },
  keep: { type: 'boolean', default: false },
  json: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
};
/** The usage text, made from `options`: every option with its default. */
function usage() {
  const words = Object.entries(options).map(([name, o]) =>
    o.type === 'boolean' ? `[--${name}]` : `[--${name} ${o.default ?? 'FILE'}]`,
  );
  const lines = ['usage: npm run bench --'];
  for (const w of words) {
    if (lines[lines.length - 1].length + w.length + 1 > 96) lines.push('                      ');
    lines[lines.length - 1] += ` ${w}`;
  }
  return `${lines.join('\n')}\nEvery figure is explained in docs/performance.md.`;
}
let v;
try {
  ({ values: v } = parseArgs({ options }));
} catch (err) {
  console.error(`bench: ${err.message}\n${usage()}`);
  process.exit(2);
}
if (v.help) {
  console.log(usage());
  process.exit(0);
}

function int(name, min = 1) {
  const x = Number(v[name]);
  if (!Number.isSafeInteger(x) || x < min) {
    console.error(`bench: --${name} must be a whole number >= ${min}, not ${JSON.stringify(v[name])}`);
    process.exit(2);
  }
  return x;
}
const runs = int('runs');
const level = int('level');
const only = new Set(v.only.split(',').map((s) => s.trim()).filter(Boolean));
for (const s of only) {
  if (!ALL.includes(s)) {
    console.error(`bench: --only: unknown scenario ${JSON.stringify(s)}; known: ${ALL.join(', ')}`);
    process.exit(2);
  }
}
const want = (s) => only.has(s);
const backlogN = int('backlog-episodes');
const backlogBytes = int('backlog-mb') * MB;
const bigBytes = int('big-mb') * MB;
const smallFiles = int('small-files');
const smallBytes = int('small-kb') * 1024;
const rssSizes = v['rss-mb'].split(',').map((s) => Number(s) * MB);
const throttleBytes = int('throttle-mb') * MB;
const throttleRate = Number(v['throttle-rate-mb']) * MB;
const PART = 128 * MB; // file size inside the big episodes

if (!existsSync(join(ROOT, 'dist/cli/main.js'))) {
  console.error('bench: dist/ is missing; run `npm run build` first');
  process.exit(1);
}

const log = (s) => process.stderr.write(`${s}\n`);
await mkdir(v.dir, { recursive: true });
const dir = await mkdtemp(join(v.dir, 'shipper-bench-'));
const sets = join(dir, 'sets');
const rows = [];
const results = {
  started_at: new Date().toISOString(),
  machine: { cores: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', mem_gb: +(totalmem() / 1e9).toFixed(1), node: process.version },
  options: v,
  scenarios: {},
};
const world = new World(dir);
let code = 0;

const ids = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
const pct = (x) => `${(100 * x).toFixed(0)} %`;

try {
  log(`bench: ${dir} (${availableParallelism()} cores), ${runs} runs, scenarios ${[...only].join(',')}`);
  await world.init();

  // Datasets: generated once, shared by the scenarios that need them.
  const backlog = { dir: join(sets, 'backlog'), ids: ids('ep-backlog', backlogN), bytes: backlogN * backlogBytes };
  const big = { dir: join(sets, 'big'), ids: ['ep-big'], bytes: bigBytes };
  const small = { dir: join(sets, 'small'), ids: ['ep-small'], bytes: smallFiles * smallBytes };
  const thr = { dir: join(sets, 'throttle'), ids: ['ep-throttle'], bytes: throttleBytes };
  const thr2 = { dir: join(sets, 'throttle2'), ids: ['ep-throttle-a', 'ep-throttle-b'], bytes: throttleBytes };
  const specs = [];
  const needBig = want('big') || want('limits') || want('rss');
  if (want('backlog') || want('limits')) {
    await mkdir(backlog.dir, { recursive: true });
    for (let i = 0; i < backlogN; i++) specs.push(await jsonlEpisode(backlog.dir, backlog.ids[i], backlogBytes, backlogBytes, 100 + i));
  }
  if (needBig) {
    await mkdir(big.dir, { recursive: true });
    specs.push(await jsonlEpisode(big.dir, 'ep-big', bigBytes, PART, 7));
  }
  if (want('small')) specs.push(await smallFilesEpisode(small.dir, 'ep-small', smallFiles, smallBytes, 11));
  if (want('throttle')) {
    specs.push(await randomEpisode(thr.dir, 'ep-throttle', throttleBytes, 64 * MB, 13));
    for (const [i, id] of thr2.ids.entries()) specs.push(await randomEpisode(thr2.dir, id, throttleBytes / 2, 64 * MB, 17 + i));
  }
  const tg = performance.now();
  log(`bench: generating ${(specs.flatMap((s) => s.jobs).reduce((a, j) => a + (j.count ?? 1) * j.bytes, 0) / MB).toFixed(0)} MB of data`);
  await buildEpisodes(specs);
  log(`bench: data ready in ${((performance.now() - tg) / 1000).toFixed(1)} s`);

  // The limits.
  let zlib = null;
  let tlsSink = null;
  if (want('limits')) {
    log('limits');
    const files = backlog.ids.map((id) => join(backlog.dir, id, 'telemetry', 'part-000.jsonl'));
    zlib = await zstdLibrary(files, { level, parallel: Math.max(2, availableParallelism()) });
    const zlib1 = await zstdLibrary(files, { level, parallel: 1 });
    const cli = await zstdCommand(world, files, { level, threads: 2, runs, inputBytes: zlib.input_bytes });
    const archive = join(dir, 'ep-big.tar.zst');
    const archiveBytes = await makeArchive(big.dir, 'ep-big', archive, level);
    const toReceiver = await curlUpload(world, { url: world.receiver.url, id: 'ep-big', archive, bytes: archiveBytes, runs, name: 'curl-receiver' });
    tlsSink = await curlUpload(world, { url: world.sink.url, id: 'ep-big', archive, bytes: archiveBytes, runs, name: 'curl-sink' });
    await rm(archive, { force: true });
    results.scenarios.limits = { zstd_library: zlib, zstd_library_1: zlib1, zstd_command: cli, curl_receiver: toReceiver, curl_sink: tlsSink, archive_bytes: archiveBytes };
    const n = Math.max(2, availableParallelism());
    rows.push({ scenario: `limit: zstd library, ${n} frames at once`, measure: 'MB/s in', shipper: zlib.mb_s, limit: `level ${level}, ratio ${zlib.ratio.toFixed(2)}:1, in memory` });
    rows.push({ scenario: 'limit: zstd library, 1 frame at a time', measure: 'MB/s in', shipper: zlib1.mb_s, limit: 'one core' });
    rows.push({ scenario: 'limit: zstd command -T2', measure: 'MB/s in', baseline: cli.mb_s, limit: 'same data, output dropped' });
    rows.push({ scenario: 'limit: curl -T → receiver', measure: 'MB/s out', baseline: toReceiver.mb_s, limit: `${(archiveBytes / MB).toFixed(0)} MB .tar.zst; receiver hashes, stores, validates` });
    rows.push({ scenario: 'limit: curl -T → TLS sink', measure: 'MB/s out', baseline: tlsSink.mb_s, limit: 'same mutual TLS, body discarded' });
  }

  // Throughput against the shell loop.
  const floor = (bytes, outBytes) => {
    if (!zlib) return '';
    const z = bytes / MB / zlib.mb_s;
    const t = tlsSink && outBytes ? outBytes / MB / tlsSink.mb_s : 0;
    return Math.max(z, t);
  };
  const throughputRows = (name, label, set, r, target, min) => {
    const f = floor(set.bytes);
    const floorText = f ? `floor ${fmt(f)} s (zstd library) = ${pct(f / r.shipper.wall_s)} of shipper, ${pct(f / r.baseline.wall_s)} of baseline` : '';
    rows.push({ scenario: label, measure: 'wall s', shipper: r.shipper.wall_s, baseline: r.baseline.wall_s, ratio: r.ratio, target, ok: min === null ? null : r.ratio >= min, limit: floorText });
    rows.push({
      scenario: label,
      measure: 'MB/s',
      shipper: set.bytes / MB / r.shipper.wall_s,
      baseline: set.bytes / MB / r.baseline.wall_s,
      limit: zlib ? `zstd library ${fmt(zlib.mb_s)} MB/s` : '',
    });
    rows.push({
      scenario: label,
      measure: 'CPU s client / receiver',
      shipper: `${fmt(r.shipper.cpu_s)} / ${fmt(r.shipper.receiver_cpu_s)}`,
      baseline: `${fmt(r.baseline.cpu_s)} / ${fmt(r.baseline.receiver_cpu_s)}`,
      limit: 'utime+stime; baseline client = bash+tar+zstd+curl',
    });
    results.scenarios[name] = r;
  };
  if (want('backlog')) {
    log(`backlog: ${backlogN} episodes x ${backlogBytes / MB} MB`);
    const r = await pair(world, { name: 'backlog', setDir: backlog.dir, ids: backlog.ids, inputBytes: backlog.bytes, runs, url: world.receiver.url, level, log });
    throughputRows('backlog', `backlog ${backlogN} × ${backlogBytes / MB} MB`, backlog, r, 'ratio ≥ 1.0 (aim 1.3)', 1.0);
    if (!v['skip-sink']) {
      log('backlog to the discard sink');
      const s = await pair(world, { name: 'backlog-sink', setDir: backlog.dir, ids: backlog.ids, inputBytes: backlog.bytes, runs, url: world.sink.url, level, log });
      results.scenarios['backlog-sink'] = s;
      rows.push({ scenario: 'backlog → TLS sink (no receiver)', measure: 'wall s', shipper: s.shipper.wall_s, baseline: s.baseline.wall_s, ratio: s.ratio, limit: 'diagnostic: what the receiver costs both' });
      await world.writeConfig({});
    }
  }
  if (want('big')) {
    log(`big: one ${bigBytes / MB} MB episode`);
    const r = await pair(world, { name: 'big', setDir: big.dir, ids: big.ids, inputBytes: big.bytes, runs, url: world.receiver.url, level, log });
    throughputRows('big', `one ${bigBytes / MB} MB episode`, big, r, 'ratio ≥ 0.8', 0.8);
  }
  if (want('small')) {
    log(`small: ${smallFiles} files x ${smallBytes} B`);
    const r = await pair(world, { name: 'small', setDir: small.dir, ids: small.ids, inputBytes: small.bytes, runs, url: world.receiver.url, level, log });
    throughputRows('small', `${smallFiles} × ${smallBytes / 1024} KB files`, small, r, 'ratio ≥ 0.5', 0.5);
  }

  // Peak RSS: episodes of each size built from hard links to the big episode's parts (the
  // packer reads every link as a file of its own), so that 4 GB need not be generated.
  if (want('rss')) {
    const got = [];
    for (const size of rssSizes) {
      const id = `ep-rss-${size / MB}`;
      const setDir = join(sets, `rss-${size / MB}`);
      const epDir = join(setDir, id);
      await mkdir(join(epDir, 'telemetry'), { recursive: true });
      const parts = (await readdir(join(big.dir, 'ep-big', 'telemetry'))).sort();
      for (let i = 0, left = size; left > 0; i++, left -= PART) {
        await link(join(big.dir, 'ep-big', 'telemetry', parts[i % parts.length]), join(epDir, 'telemetry', `part-${String(i).padStart(3, '0')}.jsonl`));
      }
      await writeMeta(epDir, id);
      log(`rss: one ${size / MB} MB episode`);
      const figs = await solo(world, { name: `rss-${size / MB}`, setDir, ids: [id], runs: 1, log });
      got.push({ size, maxrss_mb: Math.max(...figs.map((f) => f.maxrss_mb)), wall_s: figs[0].wall_s });
      await rm(setDir, { recursive: true, force: true });
    }
    results.scenarios.rss = got;
    for (const g of got) {
      rows.push({ scenario: `peak RSS, one ${g.size / MB} MB episode`, measure: 'MB', shipper: g.maxrss_mb, target: '≤ 150 MB', ok: g.maxrss_mb <= 150, limit: `ru_maxrss of shipper --once (${fmt(g.size / MB / g.wall_s)} MB/s)` });
    }
    if (got.length >= 2) {
      const lo = Math.min(...got.map((g) => g.maxrss_mb));
      const hi = Math.max(...got.map((g) => g.maxrss_mb));
      rows.push({ scenario: 'peak RSS, largest vs smallest', measure: 'ratio', shipper: hi / lo, target: '≤ 1.10', ok: hi / lo <= 1.1, limit: 'memory must not grow with size' });
    }
  }

  if (want('throttle')) {
    log(`throttle: ${throttleBytes / MB} MB at ${throttleRate / MB} MB/s`);
    const r = await throttle(world, { sets: { one: thr, two: thr2 }, rate: throttleRate, runs, log });
    results.scenarios.throttle = r;
    const want1 = throttleRate / MB;
    const dev1 = Math.abs(r.one.mb_s - want1) / want1;
    const dev2 = Math.abs(r.two.mb_s - want1) / want1;
    rows.push({ scenario: `max_bytes_per_s ${want1} MB/s, one ${throttleBytes / MB} MB upload`, measure: 'MB/s achieved', shipper: r.one.mb_s, target: `${want1} ± 10 %`, ok: dev1 <= 0.1, limit: `off by ${(100 * dev1).toFixed(1)} %` });
    rows.push({ scenario: `max_bytes_per_s ${want1} MB/s, two ${throttleBytes / 2 / MB} MB uploads at once`, measure: 'MB/s together', shipper: r.two.mb_s, limit: `off by ${(100 * dev2).toFixed(1)} %: one bucket for all uploads` });
  }

  if (want('scan')) {
    const n = int('scan-folders');
    log(`scan: ${n} unready folders`);
    const r = await scan(world, { folders: n, runs, log });
    results.scenarios.scan = r;
    rows.push({ scenario: `pass over ${n} unready folders`, measure: 'ms, the pass', shipper: r.pass_ms, target: '≤ 1000 ms', ok: r.pass_ms <= 1000, limit: 'state/last-pass.json duration_ms of --once' });
    rows.push({ scenario: `--once over ${n} unready folders`, measure: 'ms, whole process', shipper: r.once_ms, limit: `adds start-up recovery; shipper --version alone: ${fmt(r.version_ms)} ms` });
    rows.push({ scenario: `scan of ${n} unready folders`, measure: 'ms, in-process', shipper: r.first_ms, limit: `first scan; repeated (daemon): ${fmt(r.repeat_ms)} ms` });
  }

  if (want('ready')) {
    log('ready: start to READY=1');
    const r = await ready(world, { runs: int('ready-runs'), log });
    results.scenarios.ready = r;
    rows.push({ scenario: 'start to READY=1, nothing to recover', measure: 'ms', shipper: r.ready_ms, target: '≤ 300 ms', ok: r.ready_ms <= 300, limit: `node -e 0: ${fmt(r.node_ms)} ms` });
  }

  if (want('idle')) {
    const shipped = int('idle-shipped', 0);
    const unready = int('idle-unready', 0);
    const secs = int('idle-s');
    log(`idle: ${shipped} shipped, ${unready} unready, ${secs} s`);
    const r = await idle(world, { shipped, unready, seconds: secs, log });
    results.scenarios.idle = r;
    rows.push({ scenario: `idle daemon, ${shipped} shipped + ${unready} unready`, measure: `% of a core, ${secs} s`, shipper: r.cpu_pct, target: '≤ 1 %', ok: r.cpu_pct <= 1, limit: `${fmt(r.cpu_s)} s CPU; scan_interval_s 5` });
  }

  results.finished_at = new Date().toISOString();
  results.table = rows;
  const table = renderTable(rows);
  const jsonPath = v.json ?? join(v.dir, `shipper-bench-${results.started_at.replace(/[:.]/g, '-')}.json`);
  await writeFile(jsonPath, JSON.stringify(results, null, 2) + '\n');
  console.log(`\nshipper bench — ${results.machine.cores} cores (${results.machine.cpu}), node ${process.version}, medians of ${runs} runs, ratio = baseline / shipper (> 1: shipper faster)\n`);
  console.log(table);
  console.log(`\nJSON: ${jsonPath}`);
  // A missed target is a figure in the table, not a failure of the benchmark: exit 0.
} catch (err) {
  console.error(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
  code = 1;
} finally {
  await world.close().catch(() => {});
  if (v.keep) log(`bench: kept ${dir}`);
  else await rm(dir, { recursive: true, force: true });
}
process.exit(code);
