// Helpers for the end-to-end tests of the operator tools (status, doctor, requeue,
// quarantine-unstamped, metrics): a running daemon to test against, fake `systemctl` and
// `journalctl` programs on PATH, folders made the way the shipper makes them, and a checker
// for the Prometheus text format.

import type { ChildProcess } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeReason, type ReasonInput } from '../../src/queue/quarantine.js';
import { afterEach } from 'vitest';
import { makeWorld, type World } from '../helpers/world.js';

export interface RunningDaemon {
  readonly child: ChildProcess;
  stderr(): string;
  /** Resolve once stderr matches `re`; reject after `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  /** SIGTERM, and the exit code. */
  stop(): Promise<number | null>;
}

/** Spawn the daemon (`shipper --config …`) and wait for its `event=daemon_ready` line. */
export async function startDaemon(w: World, env: NodeJS.ProcessEnv = {}): Promise<RunningDaemon> {
  const child = w.spawn([], { env });
  let err = '';
  const waiters: (() => void)[] = [];
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    for (const f of waiters.splice(0)) f();
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const d: RunningDaemon = {
    child,
    stderr: () => err,
    waitFor: (re, ms = 20_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`daemon never logged ${re}; stderr:\n${err}`)), ms);
        const check = () => {
          if (re.test(err)) {
            clearTimeout(timer);
            resolve();
          } else if (child.exitCode !== null) {
            clearTimeout(timer);
            reject(new Error(`daemon exited ${child.exitCode} before ${re}; stderr:\n${err}`));
          } else {
            waiters.push(check);
          }
        };
        check();
      }),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
  await d.waitFor(/event=daemon_ready/);
  return d;
}

/**
 * For a file of tests that each need a world, and maybe a daemon on it: `world()` makes
 * one, `daemon(w)` starts one; after each test every daemon is stopped, then every world
 * closed.
 */
export function perTest(): {
  world: (options?: Parameters<typeof makeWorld>[0]) => Promise<World>;
  daemon: (w: World, env?: NodeJS.ProcessEnv) => Promise<RunningDaemon>;
} {
  const worlds: World[] = [];
  const daemons: RunningDaemon[] = [];
  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.stop();
    for (const w of worlds.splice(0)) await w.close();
  });
  return {
    world: async (options) => {
      const w = await makeWorld(options);
      worlds.push(w);
      return w;
    },
    daemon: async (w, env) => {
      const d = await startDaemon(w, env);
      daemons.push(d);
      return d;
    },
  };
}

/** Wait until `probe` returns true (polling every 50 ms), or fail after `ms`. */
export async function eventually(probe: () => Promise<boolean>, ms = 15_000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The five data folders, as the daemon creates them at start. */
export async function makeFolders(w: World): Promise<void> {
  for (const d of [w.episodes, w.outbox, w.shipped, w.quarantine, w.state]) await mkdir(d, { recursive: true });
}

/** A folder in quarantine/ with a reason file, as the shipper leaves one. */
export async function quarantined(w: World, name: string, input: ReasonInput, files: Record<string, string> = { 'data.bin': `payload of ${name}\n` }): Promise<string> {
  const id = name.replace(/~\d+$/, '');
  await w.makeEpisode(name, files, { under: w.quarantine, meta: { episode_id: id, ended_at: new Date(Date.now() - 60_000).toISOString(), code_version: { commit: '0123456789abcdef0123456789abcdef01234567' } } });
  const reason = makeReason(Buffer.from(name), 'lab-01', input, new Date());
  await writeFile(join(w.quarantine, name, 'quarantine_reason.json'), JSON.stringify(reason, null, 2) + '\n');
  return join(w.quarantine, name);
}

/**
 * A folder of fake programs for PATH. Each program appends its argv (one line) to
 * `<dir>/<name>.args`, writes `stderr` to stderr, prints `stdout` (or the file `cat`),
 * and exits with `code`.
 */
export async function fakeBin(dir: string, name: string, o: { stdout?: string; cat?: string; stderr?: string; code?: number }): Promise<void> {
  await mkdir(dir, { recursive: true });
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = ['#!/bin/sh', `printf '%s\\n' "$*" >> ${q(join(dir, name + '.args'))}`];
  if (o.stderr) lines.push(`printf '%s\\n' ${q(o.stderr)} >&2`);
  if (o.cat) lines.push(`cat ${q(o.cat)}`);
  if (o.stdout) lines.push(`printf '%s' ${q(o.stdout)}`);
  lines.push(`exit ${o.code ?? 0}`);
  await writeFile(join(dir, name), lines.join('\n') + '\n');
  await chmod(join(dir, name), 0o755);
}

export const RUNNING_UNIT = 'LoadState=loaded\nActiveState=active\nSubState=running\nNRestarts=0\nResult=success\nExecMainStatus=0\n';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*")*,?)?\})? (-?(?:\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|NaN|[+-]Inf)$/;

export interface Sample {
  name: string;
  labels: string;
  value: number;
}

/**
 * Check the Prometheus text exposition format (0.0.4) strictly enough for node_exporter's
 * textfile collector: every line a HELP, a TYPE, a blank line or a valid sample; every
 * sample's metric family announced by HELP and TYPE before it; no timestamps. Returns the
 * samples; throws naming the first bad line.
 */
export function parseExposition(text: string): Sample[] {
  const help = new Set<string>();
  const type = new Map<string, string>();
  const samples: Sample[] = [];
  if (!text.endsWith('\n')) throw new Error('the file does not end with a newline');
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line.startsWith('# HELP ')) {
      const name = line.split(' ')[2] ?? '';
      if (!NAME.test(name) || help.has(name)) throw new Error(`bad or repeated HELP at ${where}`);
      help.add(name);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [, , name = '', t = ''] = line.split(' ');
      if (!NAME.test(name) || !['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(t) || type.has(name)) throw new Error(`bad or repeated TYPE at ${where}`);
      type.set(name, t);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a valid sample at ${where}`);
    const name = m[1]!;
    const family = [...type.keys()].find((f) => name === f || ((type.get(f) === 'histogram' || type.get(f) === 'summary') && /^(.*)_(bucket|sum|count)$/.exec(name)?.[1] === f));
    if (!family || !help.has(family)) throw new Error(`sample without HELP and TYPE before it at ${where}`);
    samples.push({ name, labels: m[2] ?? '', value: Number(m[3]!.replace('Inf', 'Infinity')) });
  }
  return samples;
}

/** The value of `name{labels}` among samples (labels as written, e.g. `{reason="unstamped"}`). */
export function sampleValue(samples: Sample[], name: string, labels = ''): number | undefined {
  return samples.find((s) => s.name === name && s.labels === labels)?.value;
}
