// A whole shipper world in a temp folder: a throwaway PKI, the real reference receiver on a
// loopback port, a data folder, a config file, episodes made of real files, and the real
// CLI run as a child process. Every end-to-end test builds on this.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createReceiver, type Receiver, type ReceiverOptions } from '../../src/receiver/server.js';
import { makePki, type Pki } from './pki.js';

export const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '../..');
export const SHIPPER = join(ROOT, 'bin/shipper.js');
export const RECEIVER_BIN = join(ROOT, 'bin/shipper-receiver.js');

export type TomlValue = string | number | boolean;
export type Overrides = Record<string, TomlValue | null>;

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface World {
  readonly dir: string;
  readonly pki: Pki;
  readonly data: string;
  readonly episodes: string;
  readonly outbox: string;
  readonly shipped: string;
  readonly quarantine: string;
  readonly state: string;
  readonly store: string;
  readonly configFile: string;
  receiver: Receiver | null;
  /** The receiver's URL (kept across restarts of the receiver on the same port). */
  url: string;
  /** Rewrite the config with these keys changed (dotted names; null removes a key). */
  writeConfig(overrides?: Overrides): Promise<void>;
  startReceiver(options?: Partial<ReceiverOptions>): Promise<Receiver>;
  stopReceiver(): Promise<void>;
  /** An episode folder with files; meta.json written last unless `meta: null`. */
  makeEpisode(id: string, files?: Record<string, string | Buffer>, options?: EpisodeOptions): Promise<string>;
  run(args: string[], options?: RunOptions): Promise<RunResult>;
  spawn(args: string[], options?: RunOptions): ChildProcess;
  list(folder: string): Promise<string[]>;
  /** Archives the receiver stored for host lab-01. */
  stored(): Promise<string[]>;
  close(): Promise<void>;
}

export interface EpisodeOptions {
  /** meta.json contents; null = no meta.json. Default: a valid stamped meta. */
  meta?: object | string | null;
  /** Age of the marker in ms (mtime set into the past). Default 60 s. */
  ageMs?: number;
  /** Create under this folder instead of episodes/. */
  under?: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  stdin?: string;
}

export const COMMIT = '0123456789abcdef0123456789abcdef01234567';

export function defaultMeta(id: string): object {
  return {
    episode_id: id,
    started_at: new Date(Date.now() - 3600_000).toISOString(),
    ended_at: new Date(Date.now() - 60_000).toISOString(),
    code_version: { commit: COMMIT, dirty: false },
  };
}

function tomlValue(v: TomlValue): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

export async function makeWorld(options: { overrides?: Overrides; receiver?: Partial<ReceiverOptions> | false } = {}): Promise<World> {
  const pki = await makePki();
  const dir = await mkdtemp(join(tmpdir(), 'shipper-world-'));
  const data = join(dir, 'data');
  const store = join(dir, 'store');
  await mkdir(data);
  await mkdir(store);
  const configFile = join(dir, 'lab-host.toml');
  let lastPort = 0; // a restarted receiver comes back on the same port

  const w: World = {
    dir,
    pki,
    data,
    episodes: join(data, 'episodes'),
    outbox: join(data, 'outbox'),
    shipped: join(data, 'shipped'),
    quarantine: join(data, 'quarantine'),
    state: join(data, 'state'),
    store,
    configFile,
    receiver: null,
    url: 'https://127.0.0.1:9',
    async writeConfig(overrides: Overrides = {}) {
      const values: Record<string, TomlValue | null> = {
        host_id: 'lab-01',
        'paths.data_dir': data,
        'receiver.url': w.url,
        'receiver.ca': pki.ca.cert,
        'receiver.cert': pki.client.cert,
        'receiver.key': pki.client.key,
        'receiver.connect_timeout_s': 10,
        'receiver.idle_timeout_s': 20,
        'ship.scan_interval_s': 0.2,
        'ship.settle_s': 0,
        'retry.initial_s': 0.5,
        'retry.max_s': 2,
        ...options.overrides,
        ...overrides,
      };
      const sections = new Map<string, string[]>();
      const top: string[] = [];
      for (const [k, v] of Object.entries(values)) {
        if (v === null) continue;
        const i = k.indexOf('.');
        if (i < 0) top.push(`${k} = ${tomlValue(v)}`);
        else {
          const s = k.slice(0, i);
          if (!sections.has(s)) sections.set(s, []);
          sections.get(s)!.push(`${k.slice(i + 1)} = ${tomlValue(v)}`);
        }
      }
      let text = top.join('\n') + '\n';
      for (const [s, lines] of sections) text += `\n[${s}]\n${lines.join('\n')}\n`;
      await writeFile(configFile, text);
    },
    async startReceiver(ro: Partial<ReceiverOptions> = {}) {
      w.receiver = await createReceiver({
        host: '127.0.0.1',
        port: lastPort,
        store,
        tls: { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem },
        ...(options.receiver || {}),
        ...ro,
      });
      w.url = w.receiver.url;
      lastPort = w.receiver.port;
      return w.receiver;
    },
    async stopReceiver() {
      await w.receiver?.close(100);
      w.receiver = null;
    },
    async makeEpisode(id, files = { 'data.bin': `payload of ${id}\n` }, eo = {}) {
      const folder = join(eo.under ?? w.episodes, id);
      await mkdir(folder, { recursive: true });
      for (const [name, content] of Object.entries(files)) {
        await mkdir(dirname(join(folder, name)), { recursive: true });
        await writeFile(join(folder, name), content);
      }
      const meta = eo.meta === undefined ? defaultMeta(id) : eo.meta;
      if (meta !== null) {
        const marker = join(folder, 'meta.json');
        await writeFile(marker, typeof meta === 'string' ? meta : JSON.stringify(meta));
        const t = new Date(Date.now() - (eo.ageMs ?? 60_000));
        await utimes(marker, t, t);
      }
      return folder;
    },
    spawn(args, ro = {}) {
      return spawn(process.execPath, [SHIPPER, '--config', configFile, ...args], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...ro.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    },
    run(args, ro = {}) {
      return runChild(w.spawn(args, ro), ro);
    },
    async list(folder) {
      try {
        return (await readdir(folder)).sort();
      } catch {
        return [];
      }
    },
    async stored() {
      return w.list(join(store, 'lab-01'));
    },
    async close() {
      await w.stopReceiver();
      await rm(dir, { recursive: true, force: true });
    },
  };
  if (options.receiver !== false) await w.startReceiver();
  await mkdir(w.episodes, { recursive: true });
  await w.writeConfig();
  return w;
}

/** Wait for a child to exit, collecting its output; kill it after `timeoutMs`. */
export function runChild(child: ChildProcess, ro: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (ro.stdin !== undefined) child.stdin?.end(ro.stdin);
    else child.stdin?.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), ro.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}
