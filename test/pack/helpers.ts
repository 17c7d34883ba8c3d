// Shared pieces of the packer tests: temp folders, building trees with fixed modes and
// times, and the real `zstd` and GNU `tar` binaries (spawned with argv arrays, never a
// shell) to read archives back the way an operator or the receiver would.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lutimesSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import tarStream from 'tar-stream';
import { afterAll } from 'vitest';
import { createLogger, type Logger } from '../../src/log/logger.js';

export interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Run a binary with an argv array; optional stdin bytes. */
export function run(argv: readonly string[], stdin?: Buffer, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.on('error', () => {});
    child.stdin.end(stdin);
  });
}

/** `a | b` without a shell: a's stdout feeds b's stdin; b's stdout is returned; both must exit 0. */
export function pipeOk(a: readonly string[], b: readonly string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const first = spawn(a[0]!, a.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const second = spawn(b[0]!, b.slice(1), { stdio: [first.stdout, 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    second.stdout.on('data', (c: Buffer) => out.push(c));
    first.stderr.on('data', (c: Buffer) => (err += c.toString()));
    second.stderr.on('data', (c: Buffer) => (err += c.toString()));
    let left = 2;
    const exited = (name: string) => (code: number | null) => {
      if (code !== 0) reject(new Error(`${name} exited ${code}: ${err}`));
      else if (--left === 0) resolve(Buffer.concat(out));
    };
    first.on('error', reject);
    second.on('error', reject);
    // 'exit', not 'close': our end of first's stdout went to `second` and never closes here.
    first.on('exit', exited(a[0]!));
    second.on('close', exited(b[0]!));
  });
}

/** Run and insist on exit 0. */
export async function runOk(argv: readonly string[], stdin?: Buffer): Promise<Buffer> {
  const r = await run(argv, stdin, { ...process.env, LC_ALL: 'C.UTF-8' });
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A fresh temp folder (mode 0755 so that a lowered euid can reach inside), removed after the file's tests. */
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'shipper-pack-'));
  chmodSync(d, 0o755);
  made.push(d);
  return d;
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  return sha256(await readFile(path));
}

/** One entry of a tree spec. Paths are relative and `/`-separated; folders end with `/`. */
export type Spec =
  | { path: string; content: string | Buffer; mode?: number; mtime?: number }
  | { path: string; dir: true; mode?: number; mtime?: number }
  | { path: string; symlink: string; mtime?: number };

/**
 * Build `specs` under `root` (created if needed), then set every mode and mtime, deepest
 * first and folders after their contents, so that nothing written later moves them.
 * Default mtime: 1_700_000_000 (2023-11-14); default modes 0644 / 0755.
 */
export function buildTree(root: string, specs: readonly Spec[], rootMtime = 1_700_000_000): void {
  mkdirSync(root, { recursive: true });
  for (const s of specs) {
    const p = join(root, s.path);
    if ('dir' in s) mkdirSync(p, { recursive: true });
    else {
      mkdirSync(dirname(p), { recursive: true });
      if ('symlink' in s) symlinkSync(s.symlink, p);
      else writeFileSync(p, s.content);
    }
  }
  const byDepth = [...specs].sort((a, b) => b.path.split('/').length - a.path.split('/').length);
  for (const s of byDepth) {
    const p = join(root, s.path);
    // A Date, not a number: Node reads a negative number of seconds as "now".
    const t = new Date((s.mtime ?? 1_700_000_000) * 1000);
    if ('symlink' in s) {
      lutimesSync(p, t, t);
      continue;
    }
    chmodSync(p, s.mode ?? ('dir' in s ? 0o755 : 0o644));
    utimesSync(p, t, t);
  }
  // Parents that no spec names (and the root) get the default time too.
  const dirs = new Set<string>();
  for (const s of specs) {
    let d = dirname(s.path.replace(/\/$/, ''));
    while (d !== '.' && d !== '') {
      dirs.add(d);
      d = dirname(d);
    }
  }
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
    if (!specs.some((s) => s.path.replace(/\/$/, '') === d)) utimesSync(join(root, d), 1_700_000_000, 1_700_000_000);
  }
  chmodSync(root, 0o755);
  utimesSync(root, new Date(rootMtime * 1000), new Date(rootMtime * 1000));
}

/** `zstd -dc archive` */
export function decompress(archive: string): Promise<Buffer> {
  return runOk(['zstd', '-dc', '--', archive]);
}

/** `zstd -dc archive | tar -x -C dest` with GNU tar. */
export async function extract(archive: string, dest: string): Promise<void> {
  mkdirSync(dest, { recursive: true });
  await runOk(['tar', '-x', '-C', dest, '-f', '-'], await decompress(archive));
}

export interface ParsedEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  mtime: number;
  linkname: string | null;
  data: Buffer;
}

/** Every entry of an uncompressed tar, as tar-stream's extractor (pax-aware) reads it. */
export async function parseTar(tar: Buffer): Promise<ParsedEntry[]> {
  const ex = tarStream.extract();
  const entries: ParsedEntry[] = [];
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      const h = entry.header;
      entries.push({
        name: h.name,
        type: h.type,
        mode: h.mode,
        uid: h.uid,
        gid: h.gid,
        uname: h.uname,
        gname: h.gname,
        size: h.size,
        mtime: h.mtime.getTime() / 1000,
        linkname: h.linkname ?? null,
        data: Buffer.concat(chunks),
      });
    }
  })();
  ex.end(tar);
  await done;
  return entries;
}

/** Names in archive order as GNU tar lists them. */
export async function tarNames(tar: Buffer): Promise<string[]> {
  const out = await runOk(['tar', '-t', '--quoting-style=literal', '-f', '-'], tar);
  return out.toString('utf8').split('\n').filter((l) => l !== '');
}

/** A logger that keeps its lines, for asserting on warnings. */
export function memoryLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ write: (l) => void lines.push(l), journald: true, level: 'debug' }), lines };
}

/**
 * The zstd frames of `archive`, found by walking frame and block headers (a scan for the
 * magic number could also hit it inside compressed data). Throws on anything that is not
 * a sequence of whole frames.
 */
export function zstdFrames(archive: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  let off = 0;
  while (off < archive.length) {
    if (archive.readUInt32LE(off) !== 0xfd2fb528) throw new Error(`no zstd frame at offset ${off}`);
    const end = skipFrame(archive, off);
    frames.push(archive.subarray(off, end));
    off = end;
  }
  return frames;
}

function skipFrame(b: Buffer, start: number): number {
  let off = start + 4;
  const fhd = b[off]!;
  off += 1;
  const singleSegment = (fhd >> 5) & 1;
  const hasChecksum = (fhd >> 2) & 1;
  const dictIdFlag = fhd & 3;
  const fcsFlag = fhd >> 6;
  if (!singleSegment) off += 1;
  off += [0, 1, 2, 4][dictIdFlag]!;
  off += fcsFlag === 0 ? (singleSegment ? 1 : 0) : [1, 2, 4, 8][fcsFlag]!;
  for (;;) {
    const bh = b.readUIntLE(off, 3);
    off += 3;
    const last = bh & 1;
    const type = (bh >> 1) & 3;
    const size = bh >> 3;
    off += type === 1 ? 1 : size;
    if (last) break;
  }
  return off + (hasChecksum ? 4 : 0);
}
