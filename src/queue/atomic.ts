// Crash-safe file-system steps. Every state change of an episode is a rename(2) within one
// filesystem followed by an fsync of BOTH folders it touched (a rename is only durable once
// the directory entries are on disk; write-file-atomic forgets the folder fsync, we don't).
// Every file is written to a temp name, fsynced, renamed into place, and its folder fsynced,
// so no reader ever sees a half-written file under a final name.
//
// The folders, the legal transitions and what start-up recovery does with each leftover
// are listed in docs/design.md ("The life of an episode on disk") and src/queue/recover.ts.

import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errnoOf, fsError } from '../errors.js';

/** Prefix of every temp file the shipper writes; recovery deletes what carries it. */
export const TMP_PREFIX = '.tmp-';
/** Prefix a pruned folder gets before its tree is removed. */
export const DELETING_PREFIX = '.deleting-';

export function tmpName(dir: string, hint: string): string {
  return join(dir, `${TMP_PREFIX}${hint.slice(0, 60)}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** fsync a folder so that renames and unlinks in it survive a power loss. */
export async function fsyncDir(dir: string | Buffer): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Write `data` to `file` atomically: temp in `tmpDir` (same filesystem), fsync, rename, fsync. */
export async function writeFileAtomic(file: string, data: string | Buffer, options: { tmpDir?: string; mode?: number } = {}): Promise<void> {
  const dir = dirname(file);
  const tmp = tmpName(options.tmpDir ?? dir, basename(file));
  try {
    const fh = await open(tmp, 'wx', options.mode ?? 0o640);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw fsError(`write ${file}`, err);
  }
  await fsyncDir(dir);
  if (options.tmpDir && options.tmpDir !== dir) await fsyncDir(options.tmpDir);
}

export async function exists(path: string | Buffer): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return false;
    throw err;
  }
}

/**
 * `<name>`, else `<name>~2`, `<name>~3`, ... — the first that does not exist in `dir`. `~`
 * is outside the id alphabet, so a suffixed name can never be taken for another episode.
 * Race-free because only the lock holder creates names in shipped/ and quarantine/.
 */
export async function freeName(dir: string, name: string | Buffer): Promise<Buffer> {
  const base = Buffer.isBuffer(name) ? name : Buffer.from(name);
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? base : Buffer.concat([base, Buffer.from(`~${n}`)]);
    if (!(await exists(Buffer.concat([Buffer.from(dir + '/'), candidate])))) return candidate;
  }
}

/** `<name>` without a `~N` suffix. */
export function stripSuffix(name: string): string {
  return name.replace(/~\d+$/, '');
}

export function joinBuf(dir: string, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(dir.endsWith('/') ? dir : dir + '/'), name]);
}

/**
 * Move folder `name` from `fromDir` into `toDir` under a free name (suffixed on a clash),
 * then fsync both folders. Returns the name it got.
 */
export async function moveInto(fromDir: string, name: Buffer, toDir: string): Promise<Buffer> {
  const target = await freeName(toDir, name);
  try {
    await rename(joinBuf(fromDir, name), joinBuf(toDir, target));
  } catch (err) {
    throw fsError(`move ${joinBuf(fromDir, name).toString()} to ${toDir}`, err);
  }
  await fsyncDir(toDir);
  await fsyncDir(fromDir);
  return target;
}

/** Remove a tree in two steps: rename to `.deleting-*` (atomic), fsync, then rm -r. */
export async function removeTree(dir: string, name: Buffer): Promise<void> {
  const hidden = Buffer.concat([Buffer.from(DELETING_PREFIX), name]);
  await rename(joinBuf(dir, name), joinBuf(dir, hidden));
  await fsyncDir(dir);
  await rm(joinBuf(dir, hidden), { recursive: true, force: true });
}

/** Unlink a file if it exists; fsync its folder afterwards when `sync`. */
export async function unlinkIfExists(path: string, sync = false): Promise<boolean> {
  try {
    await unlink(path);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return false;
    throw fsError(`remove ${path}`, err);
  }
  if (sync) await fsyncDir(dirname(path));
  return true;
}
