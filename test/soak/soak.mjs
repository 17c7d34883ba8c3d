#!/usr/bin/env node
// The soak: the real daemon (bin/shipper.js) ships to the real reference receiver through
// the fault-injecting proxy (test/helpers/fault-proxy.mjs) for N minutes, while a generator
// drops episodes continuously the way a recorder does (a dot-named folder, meta.json last,
// then a rename). At the end the faults stop, the backlog drains, the daemon gets SIGTERM,
// and every episode must be in shipped/ exactly once and stored intact by the receiver.
// The daemon's RSS and open descriptors (/proc/<pid>/status VmRSS, /proc/<pid>/fd) are
// sampled all along and printed as a series.
//
//   npm run soak -- --minutes 30                 faults on the path, the daemon runs throughout
//   npm run soak -- --minutes 8 --kill-every 2   the same, plus kill -9 of the daemon every ~2 s
//
// Options: --minutes N (5), --fault-rate P (0.3 of connections/requests get a fault),
// --kill-every S (0 = never), --sample-s S (10), --json FILE (summary as JSON), --keep,
// --node-options "..." (for the daemon, e.g. "--max-old-space-size=48": a leak would then
// end in a crash instead of a slowly rising RSS), --worktree (run the checkout's dist/
// instead of a private build of git HEAD).
// Exits 0 when nothing was lost or duplicated, 1 otherwise. Needs a build (npm run build).

import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { makeBasicPki } from '../../scripts/lib/pki.mjs';
import { startFaultProxy } from '../helpers/fault-proxy.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

function parseArgs(argv) {
  const o = { minutes: 5, faultRate: 0.3, killEvery: 0, sampleS: 10, json: null, keep: false, nodeOptions: '', worktree: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--minutes') o.minutes = Number(next());
    else if (a === '--fault-rate') o.faultRate = Number(next());
    else if (a === '--kill-every') o.killEvery = Number(next());
    else if (a === '--sample-s') o.sampleS = Number(next());
    else if (a === '--json') o.json = next();
    else if (a === '--keep') o.keep = true;
    else if (a === '--node-options') o.nodeOptions = next();
    else if (a === '--worktree') o.worktree = true;
    else throw new Error(`unknown option ${a}`);
  }
  if (!(o.minutes > 0)) throw new Error('--minutes must be > 0');
  return o;
}

const pick = (xs) => xs[randomInt(xs.length)];
const chance = (p) => Math.random() < p;

/** What the proxy does to one connection / one request, at `rate`. */
function faultPlan(rate) {
  return {
    connection: () => {
      if (!chance(rate / 3)) return { kind: 'pass' };
      return pick([{ kind: 'reset' }, { kind: 'delay', ms: randomInt(50, 1500) }, { kind: 'delay', ms: 3000 }, { kind: 'hang' }]);
    },
    request: (r) => {
      if (!chance(rate)) return { kind: 'pass' };
      if (r.method !== 'PUT') return pick([{ kind: 'garbage', bytes: 100 }, { kind: 'stall', afterBytes: 0 }, { kind: 'truncated', keep: 12 }]);
      const at = randomInt(0, Math.max(1, r.length));
      // No early 2xx here: when the whole body fits in the socket buffers, an early 201 is
      // indistinguishable from a receipt (see docs/reliability.md); test/faults covers it.
      return pick([
        { kind: 'reset', afterBytes: at },
        { kind: 'stall', afterBytes: at },
        { kind: 'trickle', bytesPerSec: 4_000_000 },
        { kind: 'early', afterBytes: at, status: pick([408, 429, 500, 503]) },
        { kind: 'drop' },
        { kind: 'garbage', bytes: 200 },
        { kind: 'truncated', keep: randomInt(1, 100) },
        { kind: 'truncated', keep: 3, afterHead: true },
      ]);
    },
  };
}

/** path → "type mode size sha256|target" for every entry under `dir` (the tree's identity). */
async function manifest(dir, rel = '', out = new Map()) {
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const p = join(dir, r);
    const st = await lstat(p);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isDirectory()) {
      out.set(r, `d ${mode}`);
      await manifest(dir, r, out);
    } else if (st.isSymbolicLink()) out.set(r, `l ${await readlink(p)}`);
    else out.set(r, `f ${mode} ${st.size} ${createHash('sha256').update(await readFile(p)).digest('hex')} ${Math.floor(st.mtimeMs / 1000)}`);
  }
  return out;
}

function runPipe(cmd1, args1, cmd2, args2) {
  return new Promise((resolve, reject) => {
    const a = spawn(cmd1, args1, { stdio: ['ignore', 'pipe', 'inherit'] });
    const b = spawn(cmd2, args2, { stdio: ['pipe', 'inherit', 'inherit'] });
    a.stdout.pipe(b.stdin);
    let left = 2;
    const done = (code, who) => (code !== 0 ? reject(new Error(`${who} exited ${code}`)) : --left === 0 && resolve());
    a.on('close', (c) => done(c, cmd1));
    b.on('close', (c) => done(c, cmd2));
  });
}

function runOut(cmd, args) {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

async function procSample(pid) {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    const fds = (await readdir(`/proc/${pid}/fd`)).length;
    return { rssKb, fds };
  } catch {
    return null;
  }
}

/**
 * The committed code (git HEAD), built in a folder of its own: work in progress in the
 * checkout, or a rebuild of its dist/ by someone else while the soak runs, must not change
 * what runs under it (a daemon restarted after kill -9 loads its modules again).
 */
async function buildHead(into) {
  await mkdir(into, { recursive: true });
  await runPipe('git', ['-C', ROOT, 'archive', 'HEAD', 'bin', 'src', 'package.json', 'tsconfig.json'], 'tar', ['-x', '-C', into]);
  await symlink(join(ROOT, 'node_modules'), join(into, 'node_modules'));
  await new Promise((resolve, reject) => {
    const tsc = spawn(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(into, 'tsconfig.json')], { stdio: 'inherit' });
    tsc.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tsc exited ${code}`))));
  });
  return into;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const dir = await mkdtemp(join(tmpdir(), 'shipper-soak-'));
  const app = o.worktree ? ROOT : await buildHead(join(dir, 'app'));
  if (!existsSync(join(app, 'dist/receiver/server.js'))) throw new Error('no dist/: run npm run build first');
  const SHIPPER = join(app, 'bin/shipper.js');
  const { createReceiver } = await import(join(app, 'dist/receiver/server.js'));
  const data = join(dir, 'data');
  const episodes = join(data, 'episodes');
  const shipped = join(data, 'shipped');
  const quarantine = join(data, 'quarantine');
  const store = join(dir, 'store');
  await mkdir(episodes, { recursive: true });
  await mkdir(store);
  const pki = await makeBasicPki(dir);
  const pem = async (p) => readFile(p);
  const receiver = await createReceiver({ host: '127.0.0.1', port: 0, store, tls: { ca: await pem(pki.ca.cert), cert: await pem(pki.server.cert), key: await pem(pki.server.key) } });
  const proxy = await startFaultProxy({
    upstream: { host: '127.0.0.1', port: receiver.port },
    serverTls: { ca: await pem(pki.ca.cert), cert: await pem(pki.server.cert), key: await pem(pki.server.key) },
    clientTls: { ca: await pem(pki.ca.cert), cert: await pem(pki.client.cert), key: await pem(pki.client.key) },
    plan: faultPlan(o.faultRate),
  });
  const config = join(dir, 'lab-host.toml');
  await writeFile(
    config,
    [
      'host_id = "lab-01"',
      '[paths]',
      `data_dir = ${JSON.stringify(data)}`,
      '[receiver]',
      `url = ${JSON.stringify(proxy.url)}`,
      `ca = ${JSON.stringify(pki.ca.cert)}`,
      `cert = ${JSON.stringify(pki.client.cert)}`,
      `key = ${JSON.stringify(pki.client.key)}`,
      'connect_timeout_s = 2',
      'idle_timeout_s = 3',
      '[ship]',
      'scan_interval_s = 0.5',
      'settle_s = 0',
      'concurrency = 2',
      '[retry]',
      'initial_s = 0.5',
      'max_s = 4',
      '',
    ].join('\n'),
  );

  // The daemon, restarted after every kill -9 (kill mode) and never otherwise.
  let daemon = null;
  let kills = 0;
  let restarts = 0;
  let internalErrors = 0;
  let selfExits = 0;
  const logTail = [];
  const startDaemon = () => {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...(o.nodeOptions ? { NODE_OPTIONS: o.nodeOptions } : {}) };
    const child = spawn(process.execPath, [SHIPPER, '--config', config], { stdio: ['ignore', 'ignore', 'pipe'], env });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      if (/internal error/.test(d)) internalErrors++;
      logTail.push(...d.split('\n').filter(Boolean));
      if (logTail.length > 200) logTail.splice(0, logTail.length - 200);
    });
    const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    daemon = { child, exited, started: Date.now() };
    return daemon;
  };
  startDaemon();

  // The recorder: one episode at a time, written under a dot-name, meta.json last, renamed.
  const made = new Map();
  let generating = true;
  const generator = (async () => {
    let n = 0;
    while (generating) {
      const id = `soak-${String(++n).padStart(6, '0')}`;
      const tmp = join(episodes, `.tmp-${id}`);
      await mkdir(join(tmp, 'telemetry'), { recursive: true });
      const big = chance(0.05);
      await writeFile(join(tmp, 'telemetry/imu.bin'), randomBytes(big ? randomInt(2_000_000, 8_000_000) : randomInt(1, 400_000)));
      await writeFile(join(tmp, 'telemetry/values.csv'), Array.from({ length: randomInt(1, 2000) }, (_, k) => `${k},${Math.random()}`).join('\n'));
      if (chance(0.3)) {
        await mkdir(join(tmp, 'logs/deep/er'), { recursive: true });
        await writeFile(join(tmp, 'logs/deep/er/run.log'), `episode ${id}\n`);
      }
      if (chance(0.1)) await writeFile(join(tmp, '.hidden'), 'dot-files ship too');
      const meta = join(tmp, 'meta.json');
      await writeFile(meta, JSON.stringify({ episode_id: id, ended_at: new Date().toISOString(), code_version: { commit: 'a'.repeat(40), dirty: false } }));
      const t = new Date(Date.now() - 5000);
      await utimes(meta, t, t);
      made.set(id, await manifest(tmp));
      await rename(tmp, join(episodes, id));
      await sleep(randomInt(500, 2500));
    }
  })();

  // Samples of the daemon process, and kill -9 at random instants in kill mode.
  const samples = [];
  const t0 = Date.now();
  const endAt = t0 + o.minutes * 60_000;
  let nextSample = t0;
  let nextKill = o.killEvery > 0 ? t0 + o.killEvery * 1000 * (0.5 + Math.random()) : Infinity;
  const print = (line) => process.stdout.write(line + '\n');
  print(`soak of ${o.worktree ? 'the checkout' : `HEAD ${(await runOut('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])).trim()}`}: ${o.minutes} min, fault rate ${o.faultRate}, kill -9 ${o.killEvery > 0 ? `every ~${o.killEvery} s` : 'never'}${o.nodeOptions ? `, daemon NODE_OPTIONS=${o.nodeOptions}` : ''}, in ${dir}`);
  print('   t_s  rss_mb  fds  made  shipped  pending  proxy_conns  proxy_reqs');
  while (Date.now() < endAt) {
    await sleep(200);
    const now = Date.now();
    if (now >= nextKill) {
      daemon.child.kill('SIGKILL');
      await daemon.exited;
      kills++;
      startDaemon();
      restarts++;
      nextKill = now + o.killEvery * 1000 * (0.5 + Math.random());
    } else if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) {
      // The daemon is never supposed to exit by itself.
      const e = await daemon.exited;
      print(`daemon exited by itself: ${JSON.stringify(e)}; last log lines:\n${logTail.slice(-20).join('\n')}`);
      selfExits++;
      startDaemon();
      restarts++;
    }
    if (now >= nextSample) {
      nextSample += o.sampleS * 1000;
      const s = await procSample(daemon.child.pid);
      const shippedN = (await readdir(shipped).catch(() => [])).length;
      const pending = (await readdir(episodes)).filter((x) => !x.startsWith('.')).length;
      const row = { t: Math.round((now - t0) / 1000), rssMb: s ? +(s.rssKb / 1024).toFixed(1) : null, fds: s?.fds ?? null, made: made.size, shipped: shippedN, pending, conns: proxy.stats.connections, reqs: proxy.stats.requests };
      samples.push(row);
      print(`${String(row.t).padStart(6)}  ${String(row.rssMb).padStart(6)}  ${String(row.fds).padStart(3)}  ${String(row.made).padStart(4)}  ${String(row.shipped).padStart(7)}  ${String(row.pending).padStart(7)}  ${String(row.conns).padStart(11)}  ${String(row.reqs).padStart(10)}`);
    }
  }

  // Drain: no new episodes, no faults; everything must ship.
  generating = false;
  await generator;
  proxy.setPlan({});
  const drainStart = Date.now();
  for (;;) {
    const pending = (await readdir(episodes)).filter((x) => !x.startsWith('.'));
    if (pending.length === 0) break;
    if (Date.now() - drainStart > 600_000) {
      print(`drain timed out with ${pending.length} episodes left`);
      break;
    }
    await sleep(500);
  }
  const drainS = ((Date.now() - drainStart) / 1000).toFixed(1);
  daemon.child.kill('SIGTERM');
  const stop = await daemon.exited;

  // The books: every episode made is in shipped/ once and stored intact.
  const problems = [];
  const shippedNames = await readdir(shipped);
  const left = (await readdir(episodes)).filter((x) => !x.startsWith('.'));
  const quarantined = await readdir(quarantine).catch(() => []);
  const storedNames = new Set(await readdir(join(store, 'lab-01')).catch(() => []));
  if (left.length) problems.push(`${left.length} episodes never shipped: ${left.slice(0, 5).join(', ')}`);
  if (quarantined.length) problems.push(`${quarantined.length} episodes quarantined: ${quarantined.slice(0, 5).join(', ')}`);
  const dupes = shippedNames.filter((x) => x.includes('~'));
  if (dupes.length) problems.push(`${dupes.length} episodes shipped twice: ${dupes.slice(0, 5).join(', ')}`);
  if (stop.code !== 0) problems.push(`the daemon's SIGTERM exit was ${JSON.stringify(stop)}`);
  if (selfExits) problems.push(`the daemon exited by itself ${selfExits} times`);
  if (internalErrors) problems.push(`${internalErrors} internal errors in the daemon's log`);
  let verified = 0;
  const scratch = join(dir, 'verify');
  for (const [id, want] of made) {
    if (!shippedNames.includes(id)) continue;
    if (!storedNames.has(`${id}.tar.zst`)) {
      problems.push(`${id} is in shipped/ but the receiver does not hold it`);
      continue;
    }
    await rm(scratch, { recursive: true, force: true });
    await mkdir(scratch);
    await runPipe('zstd', ['-dc', '-q', join(store, 'lab-01', `${id}.tar.zst`)], 'tar', ['-x', '-C', scratch]);
    const got = await manifest(join(scratch, id));
    const shippedTree = await manifest(join(shipped, id));
    const same = (a, b) => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
    if (!same(want, got)) problems.push(`${id}: the stored archive differs from what the recorder wrote`);
    else if (!same(want, shippedTree)) problems.push(`${id}: shipped/ differs from what the recorder wrote`);
    else verified++;
  }

  const steady = samples.filter((s) => s.t >= 60 && s.rssMb !== null);
  const third = Math.max(1, Math.floor(steady.length / 3));
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? null;
  const summary = {
    minutes: o.minutes,
    faultRate: o.faultRate,
    killEvery: o.killEvery,
    kills,
    restarts,
    selfExits,
    episodesMade: made.size,
    shipped: shippedNames.length,
    verifiedIntact: verified,
    lost: made.size - verified,
    duplicates: dupes.length,
    quarantined: quarantined.length,
    drainS: Number(drainS),
    sigtermExit: stop.code,
    proxy: { connections: proxy.stats.connections, requests: proxy.stats.requests, byFault: proxy.stats.byFault },
    rssMb: steady.length ? { first: med(steady.slice(0, third).map((s) => s.rssMb)), last: med(steady.slice(-third).map((s) => s.rssMb)), max: Math.max(...steady.map((s) => s.rssMb)) } : null,
    fds: steady.length ? { first: med(steady.slice(0, third).map((s) => s.fds)), last: med(steady.slice(-third).map((s) => s.fds)), max: Math.max(...steady.map((s) => s.fds)) } : null,
    samples,
    problems,
  };
  print(`\nfaults injected: ${JSON.stringify(proxy.stats.byFault)}`);
  print(`episodes made ${made.size}, shipped ${shippedNames.length}, verified intact ${verified}, lost ${summary.lost}, duplicated ${dupes.length}, quarantined ${quarantined.length}; kill -9: ${kills}; drain ${drainS} s; SIGTERM exit ${stop.code}`);
  if (summary.rssMb) print(`RSS MB (median of first/last third after 60 s, max): ${summary.rssMb.first} / ${summary.rssMb.last}, max ${summary.rssMb.max}; fds: ${summary.fds.first} / ${summary.fds.last}, max ${summary.fds.max}`);
  for (const p of problems.slice(0, 50)) print(`PROBLEM: ${p}`);
  if (o.json) await writeFile(o.json, JSON.stringify(summary, null, 1) + '\n');
  await proxy.close();
  await receiver.close(200);
  if (!o.keep) await rm(dir, { recursive: true, force: true });
  print(problems.length === 0 ? 'soak: PASS' : `soak: FAIL (${problems.length} problems)`);
  return problems.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`soak: ${err.stack ?? err}\n`);
    process.exit(1);
  },
);
