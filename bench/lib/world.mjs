// The benchmark's world: a throwaway PKI, the reference receiver (and a discard sink) as
// child processes on loopback, a data folder and config for the shipper, and the two
// contenders run as whole processes under rusage.py, which reports the kernel's own
// accounting (wall, CPU, peak RSS) of each run. Every command is an argv array.

import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { URL, fileURLToPath } from 'node:url';
import { makeBasicPki } from '../../scripts/lib/pki.mjs';
import { setTimeout, clearTimeout } from 'node:timers';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SHIPPER = join(ROOT, 'bin/shipper.js');
export const RECEIVER = join(ROOT, 'bin/shipper-receiver.js');
const LIB = fileURLToPath(new URL('.', import.meta.url));
export const RUSAGE = join(LIB, 'rusage.py');
export const BASELINE = join(LIB, 'baseline.sh');
export const SINK = join(LIB, 'sink.mjs');
export const NOTIFY = join(LIB, 'notify.py');
export const HOST_ID = 'lab-01';

/** Spawn a server and resolve with its URL, parsed from `event=<name> url=...` on stderr. */
export function startServer(argv, event, logFile) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${argv[1]} did not start within 15 s:\n${buf}`)), 15_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      if (logFile) void writeFile(logFile, d, { flag: 'a' }).catch(() => {});
      if (buf === null) return;
      buf += d;
      const m = new RegExp(`event=${event} url=(\\S+)`).exec(buf);
      if (m) {
        clearTimeout(timer);
        buf = null;
        resolve({ child, url: m[1], stop: () => stopChild(child) });
      }
    });
    child.on('exit', (c) => {
      clearTimeout(timer);
      reject(new Error(`${argv[1]} exited with ${c}:\n${buf}`));
    });
  });
}

export async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

/**
 * Run `argv` under rusage.py with stdout (or nothing) and stderr into `logFile`; resolves with
 * `{ wall_s, user_s, sys_s, maxrss_kib, code, log }`.
 */
export async function measured(argv, logFile, env = process.env, { stdoutNull = false } = {}) {
  const out = `${logFile}.rusage.json`;
  const fd = openSync(logFile, 'w');
  try {
    const child = spawn('python3', [RUSAGE, out, '--', ...argv], { stdio: ['ignore', stdoutNull ? 'ignore' : fd, fd], env });
    await new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', resolve);
    });
  } finally {
    closeSync(fd);
  }
  const r = JSON.parse(readFileSync(out, 'utf8'));
  r.log = readFileSync(logFile, 'utf8');
  if (r.code !== 0) throw new Error(`${argv.slice(0, 3).join(' ')} … exited ${r.code}:\n${r.log.slice(-3000)}`);
  return r;
}

export class World {
  constructor(dir) {
    this.dir = dir;
    this.data = join(dir, 'data');
    this.episodes = join(this.data, 'episodes');
    this.shipped = join(this.data, 'shipped');
    this.outbox = join(this.data, 'outbox');
    this.store = join(dir, 'store');
    this.logs = join(dir, 'logs');
    this.configFile = join(dir, 'lab-host.toml');
    this.receiver = null;
    this.sink = null;
    this.runs = 0;
  }

  async init() {
    await mkdir(join(this.dir, 'pki'), { recursive: true });
    await mkdir(this.episodes, { recursive: true });
    await mkdir(this.store, { recursive: true });
    await mkdir(this.logs, { recursive: true });
    this.pki = await makeBasicPki(join(this.dir, 'pki'), HOST_ID);
    const tls = ['--ca', this.pki.ca.cert, '--cert', this.pki.server.cert, '--key', this.pki.server.key];
    this.receiver = await startServer(
      [process.execPath, RECEIVER, '--listen', '127.0.0.1:0', '--store', this.store, ...tls],
      'receiver_listening',
      join(this.logs, 'receiver.log'),
    );
    this.sink = await startServer([process.execPath, SINK, ...tls], 'sink_listening', null);
    await this.writeConfig();
  }

  /** The shipper's config; `ship` overrides keys of [ship] (numbers). */
  async writeConfig(ship = {}, url = this.receiver.url) {
    await writeFile(this.configFile, this.configText(this.data, ship, url));
  }

  /** A config of its own for a side world under `<dir>/<name>/` (the quiet scenarios). */
  async sideWorld(name, ship = {}) {
    const base = join(this.dir, name);
    const data = join(base, 'data');
    await mkdir(join(data, 'episodes'), { recursive: true });
    const file = join(base, 'lab-host.toml');
    await writeFile(file, this.configText(data, ship, this.receiver.url));
    return { base, data, episodes: join(data, 'episodes'), shipped: join(data, 'shipped'), configFile: file };
  }

  configText(dataDir, ship, url) {
    const s = { settle_s: 0, ...ship };
    return [
      `host_id = "${HOST_ID}"`,
      '',
      '[paths]',
      `data_dir = ${JSON.stringify(dataDir)}`,
      '',
      '[receiver]',
      `url = "${url}"`,
      `ca = ${JSON.stringify(this.pki.ca.cert)}`,
      `cert = ${JSON.stringify(this.pki.client.cert)}`,
      `key = ${JSON.stringify(this.pki.client.key)}`,
      '',
      '[ship]',
      ...Object.entries(s).map(([k, v]) => `${k} = ${v}`),
      '',
    ].join('\n');
  }

  logFile(name) {
    return this.#log(name);
  }

  #log(name) {
    return join(this.logs, `${String(++this.runs).padStart(3, '0')}-${name}.log`);
  }

  /** `shipper --once`, measured. */
  async once(name, configFile = this.configFile) {
    return measured([process.execPath, SHIPPER, '--once', '--config', configFile], this.#log(name), { ...process.env, SHIPPER_LOG_LEVEL: 'info' });
  }

  /** The shell loop over `ids` (in `episodesDir`), measured. */
  async baseline(name, episodesDir, ids, { url = this.receiver.url, level = 3, threads = 2 } = {}) {
    const argv = ['bash', BASELINE, url, this.pki.ca.cert, this.pki.client.cert, this.pki.client.key, HOST_ID, episodesDir, String(level), String(threads), ...ids];
    return measured(argv, this.#log(name));
  }

  /** Move the episodes `ids` of a dataset folder into episodes/ for a shipper run. */
  async stage(setDir, ids) {
    await this.clearStore();
    for (const name of await readdir(this.outbox).catch(() => [])) await rm(join(this.outbox, name), { recursive: true, force: true });
    for (const id of ids) await rename(join(setDir, id), join(this.episodes, id));
  }

  /** After a run: every episode back from shipped/ (or episodes/) into its dataset folder. */
  async unstage(setDir) {
    for (const from of [this.shipped, this.episodes]) {
      for (const name of await readdir(from).catch(() => [])) {
        if (name.startsWith('.')) continue;
        if (name.includes('~')) throw new Error(`bench: ${name} was shipped twice; the dataset is not what it was`);
        await rename(join(from, name), join(setDir, name));
      }
    }
    await this.clearStore();
  }

  async clearStore() {
    for (const host of await readdir(this.store)) await rm(join(this.store, host), { recursive: true, force: true });
  }

  /** Names of the archives the receiver holds for our host. */
  async stored() {
    return (await readdir(join(this.store, HOST_ID)).catch(() => [])).filter((n) => !n.startsWith('.')).sort();
  }

  async close() {
    await this.receiver?.stop();
    await this.sink?.stop();
  }
}
