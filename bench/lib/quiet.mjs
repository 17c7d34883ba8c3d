// What the shipper costs when there is little or nothing to do:
//   scan   a pass over N episode folders none of which is ready, three ways: the pass itself
//          as `--once` records it (state/last-pass.json duration_ms: scan, verdicts, no
//          ping since nothing is ready), the whole `--once` process (adds Node start-up,
//          config, start-up recovery, lock, state files), and the scan alone in-process
//          (scan-probe.mjs), first and repeated as a daemon repeats it
//   idle   a daemon with S shipped and U unready episodes: utime+stime from /proc over a
//          window after READY=1 and its first pass, as a share of one core
//   ready  spawn to READY=1 on $NOTIFY_SOCKET (notify.py, since Node cannot bind a Unix
//          datagram socket) with nothing to recover, against `node -e 0` spawn to exit

import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { performance } from 'node:perf_hooks';
import { setTimeout, clearTimeout } from 'node:timers';
import { URL, fileURLToPath } from 'node:url';
import { median } from './table.mjs';
import { cpuSeconds } from './throughput.mjs';
import { NOTIFY, SHIPPER, stopChild } from './world.mjs';

const run = promisify(execFile);
const PROBE = fileURLToPath(new URL('./scan-probe.mjs', import.meta.url));

/** `count` episode folders named ep-unready-N, without a marker, each holding `withFile` a file. */
export function unreadyFolders(dir, count, withFile) {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    const d = join(dir, `ep-unready-${String(i).padStart(6, '0')}`);
    if (existsSync(d)) continue;
    mkdirSync(d);
    if (withFile) writeFileSync(join(d, 'telemetry.jsonl'), '{"t":0}\n');
  }
}

export async function scan(world, { folders, runs, log }) {
  const side = await world.sideWorld('quiet-scan');
  unreadyFolders(side.episodes, folders, false);
  const once = [];
  const pass = [];
  for (let i = 0; i < runs; i++) {
    const r = await world.once('scan-once', side.configFile);
    once.push(r.wall_s * 1000);
    pass.push(JSON.parse(readFileSync(join(side.data, 'state', 'last-pass.json'), 'utf8')).duration_ms);
    log(`  scan --once ${(r.wall_s * 1000).toFixed(0)} ms, of which the pass ${pass.at(-1)} ms`);
  }
  const probes = [];
  for (let i = 0; i < runs; i++) {
    const { stdout } = await run(process.execPath, [PROBE, side.episodes, '5']);
    probes.push(JSON.parse(stdout));
    log(`  scan in-process first ${probes.at(-1).first_ms.toFixed(0)} ms, repeated ${median(probes.at(-1).repeat_ms).toFixed(0)} ms`);
  }
  const bare = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await run(process.execPath, [SHIPPER, '--version']);
    bare.push(performance.now() - t0);
  }
  return {
    pass_ms: median(pass),
    once_ms: median(once),
    first_ms: median(probes.map((p) => p.first_ms)),
    repeat_ms: median(probes.flatMap((p) => p.repeat_ms)),
    version_ms: median(bare),
    runs: { pass, once, probes, version: bare },
  };
}

/** A notify socket (notify.py) whose datagrams arrive as lines {ns, msg}. */
async function notifySocket() {
  const dir = await mkdtemp(join(tmpdir(), 'shipper-bench-notify-'));
  const path = join(dir, 'notify.sock');
  const py = spawn('python3', [NOTIFY, path], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: py.stdout });
  const waiters = [];
  const seen = [];
  lines.on('line', (l) => {
    const sp = l.indexOf(' ');
    const m = l === 'listening' ? { ns: 0n, msg: 'listening' } : { ns: BigInt(l.slice(0, sp)), msg: l.slice(sp + 1) };
    seen.push(m);
    for (const w of [...waiters]) if (w.test(m)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(m);
    }
  });
  const wait = (test, ms = 30_000) =>
    new Promise((resolve, reject) => {
      const hit = seen.find(test);
      if (hit) return resolve(hit);
      const t = setTimeout(() => reject(new Error('bench: no such notify message in time')), ms);
      waiters.push({ test, resolve: (m) => (clearTimeout(t), resolve(m)) });
    });
  await wait((m) => m.msg === 'listening');
  return {
    path,
    wait,
    clear: () => void seen.splice(0),
    close: async () => {
      py.stdin.end();
      await new Promise((r) => py.once('exit', r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function daemon(configFile, socket, env = {}) {
  return spawn(process.execPath, [SHIPPER, '--config', configFile], {
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '180000000', ...env },
  });
}

export async function ready(world, { runs, log }) {
  const side = await world.sideWorld('quiet-ready');
  const sock = await notifySocket();
  const ms = [];
  const bare = [];
  try {
    for (let i = 0; i < runs + 1; i++) {
      sock.clear();
      const t0 = process.hrtime.bigint();
      const d = daemon(side.configFile, sock);
      const m = await sock.wait((x) => /(^|\|)READY=1/.test(x.msg));
      if (i > 0) ms.push(Number(m.ns - t0) / 1e6); // the first start warms the disk cache
      await stopChild(d);
      if (i > 0) log(`  ready ${ms.at(-1).toFixed(0)} ms`);
      const t1 = process.hrtime.bigint();
      await run(process.execPath, ['-e', '0']);
      if (i > 0) bare.push(Number(process.hrtime.bigint() - t1) / 1e6);
    }
  } finally {
    await sock.close();
  }
  return { ready_ms: median(ms), node_ms: median(bare), runs: { ready: ms, node: bare } };
}

export async function idle(world, { shipped, unready, seconds, log }) {
  const side = await world.sideWorld('quiet-idle');
  unreadyFolders(side.episodes, unready, true);
  mkdirSync(side.shipped, { recursive: true });
  for (let i = 0; i < shipped; i++) {
    const d = join(side.shipped, `ep-shipped-${String(i).padStart(6, '0')}`);
    if (existsSync(d)) continue;
    mkdirSync(d);
    writeFileSync(join(d, 'meta.json'), '{}\n');
  }
  const sock = await notifySocket();
  let d;
  try {
    d = daemon(side.configFile, sock);
    await sock.wait((x) => /(^|\|)READY=1/.test(x.msg));
    // The first pass (the first scan of every folder) and one more, then the window.
    await sleep(6_000);
    const c0 = cpuSeconds(d.pid);
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const cpu = cpuSeconds(d.pid) - c0;
    const wall = (performance.now() - t0) / 1000;
    const pct = (100 * cpu) / wall;
    log(`  idle ${cpu.toFixed(2)} s cpu over ${wall.toFixed(1)} s = ${pct.toFixed(2)} % of a core`);
    return { cpu_pct: pct, cpu_s: cpu, wall_s: wall };
  } finally {
    if (d) await stopChild(d);
    await sock.close();
  }
}
