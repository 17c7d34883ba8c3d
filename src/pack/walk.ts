// The episode walk: every entry of an episode folder, as lstat sees it, in archive order.
//
// Archive order is the bytewise order of the entry names in which directory names carry
// their trailing `/` (`<id>/a-b` < `<id>/a/` < `<id>/a/x` < `<id>/a0`, since
// '-' 0x2d < '/' 0x2f < '0' 0x30). That order needs no global sort: it equals a depth-first
// walk that lists each folder's children sorted bytewise by `name + (isDir ? '/' : '')`
// and descends into a folder right after its own entry. Why: every name below folder `d`
// starts with `d/`; a sibling key `k` never contains `/` except a folder's trailing one,
// so `k` and `d/` differ within their common length and every entry under `d/` compares
// with `k` (and everything under `k`) exactly as `d/` does — subtrees are contiguous and
// ordered by their folder's key. So the walk streams: memory is one listing per level of
// the current path, never the whole tree.
//
// Symbolic links are entries of their own (never followed, not even to a folder). Names
// are read as bytes so that a name that is not valid UTF-8 stops the walk
// (SHIP_EPISODE_UNREADABLE) instead of being silently replaced by U+FFFD.
//
// A folder that gains or loses entries during a pack is caught at the end, by
// verifyFolders: the walk itself runs ahead of the reads and cannot know when "the end" is.

import type { BigIntStats, Dirent } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ErrorCodes, ShipperError } from '../errors.js';
import { changed, episodeFsError, nonUtf8, showBytes } from './episode-errors.js';
import { lstatBig, lstatBigSync } from './fsx.js';
import { Pacer } from './pacer.js';

export type EntryKind = 'directory' | 'file' | 'symlink' | 'fifo' | 'socket' | 'block_device' | 'char_device';

export interface WalkEntry {
  /** Path relative to the episode folder, `/`-separated, no trailing `/`; '' for the folder itself. */
  readonly rel: string;
  readonly abs: string;
  readonly kind: EntryKind;
  readonly st: BigIntStats;
}

/** lstat calls kept in flight ahead of the walk inside one folder. */
const LSTAT_AHEAD = 32;
const SLASH = Buffer.from('/');

export function kindOf(st: BigIntStats): EntryKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isBlockDevice()) return 'block_device';
  return 'char_device';
}

/** Kinds that go into the archive; the others are skipped with a warning. */
export function isArchived(kind: EntryKind): boolean {
  return kind === 'directory' || kind === 'file' || kind === 'symlink';
}

export function abortedError(what: string): ShipperError {
  return new ShipperError(ErrorCodes.ABORTED, `${what}: cancelled (shutting down)`);
}

interface Child {
  readonly key: Buffer;
  readonly isDir: boolean;
  readonly abs: string;
  readonly rel: string;
}

/** A folder on the walk's stack: its sorted children and how far the walk got. */
interface Frame {
  readonly abs: string;
  readonly rel: string;
  children: Child[] | null;
  next: number;
  /** lstat calls already started for children[next ...] (threadpool mode only). */
  readonly ahead: Array<Promise<BigIntStats>>;
}

const ignore = (): void => {};

/**
 * Every entry of `episodeDir` in archive order, the folder itself first (rel ''). lstat
 * and readdir run synchronously or on the threadpool as `pacer` decides (pacer.ts); on
 * the threadpool up to LSTAT_AHEAD lstat calls run ahead within a folder.
 */
export async function* walkEpisode(
  episodeDir: string,
  signal?: AbortSignal,
  pacer: Pacer = new Pacer(),
): AsyncGenerator<WalkEntry, void, undefined> {
  const root = resolve(episodeDir);
  if (signal?.aborted) throw abortedError(`pack ${root}`);
  const st = await lstatOf(root, root, '', pacer);
  if (!st.isDirectory()) {
    throw new ShipperError(
      ErrorCodes.EPISODE_UNREADABLE,
      `pack ${root}: not a folder (an episode is a folder; a symbolic link to one is not followed)`,
      { details: { path: '', reason: 'not_a_folder' } },
    );
  }
  yield { rel: '', abs: root, kind: 'directory', st };
  const stack: Frame[] = [frame(root, '')];
  try {
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      top.children ??= await listFolder(root, top.abs, top.rel, pacer);
      if (top.next === top.children.length) {
        stack.pop();
        continue;
      }
      if (signal?.aborted) throw abortedError(`pack ${root}`);
      const child = top.children[top.next]!;
      const cst = await childStat(root, top, pacer);
      const kind = kindOf(cst);
      // readdir's d_type chose the sort key; another type now means the entry was swapped.
      if ((kind === 'directory') !== child.isDir) throw changed(root, child.rel, 'type_changed');
      if (kind === 'directory') stack.push(frame(child.abs, child.rel));
      yield { rel: child.rel, abs: child.abs, kind, st: cst };
      await pacer.breathe();
    }
  } finally {
    for (const f of stack) for (const p of f.ahead) p.catch(ignore);
  }
}

function frame(abs: string, rel: string): Frame {
  return { abs, rel, children: null, next: 0, ahead: [] };
}

/**
 * Check, once every entry has been archived, that no folder the walk listed has changed
 * since its lstat (taken before it was listed): a new mtime means an entry was added,
 * removed or renamed during the pack, and the archive would not match any moment of
 * the episode. One lstat per folder.
 */
export async function verifyFolders(root: string, folders: readonly WalkEntry[], pacer: Pacer): Promise<void> {
  for (const f of folders) {
    const now = await lstatOf(root, f.abs, f.rel, pacer);
    if (now.ino !== f.st.ino || !now.isDirectory()) throw changed(root, f.rel, 'replaced');
    if (now.mtimeNs !== f.st.mtimeNs) throw changed(root, f.rel, 'folder_changed');
    await pacer.breathe();
  }
}

/** lstat of the next child of `f` (and advance), from the look-ahead on the threadpool. */
async function childStat(root: string, f: Frame, pacer: Pacer): Promise<BigIntStats> {
  const children = f.children!;
  const i = f.next++;
  if (pacer.sync && f.ahead.length === 0) return lstatOf(root, children[i]!.abs, children[i]!.rel, pacer);
  while (f.ahead.length < LSTAT_AHEAD && i + f.ahead.length < children.length) {
    const c = children[i + f.ahead.length]!;
    const p = lstatBig(c.abs).catch((err: unknown) => {
      throw episodeFsError(root, c.rel, 'lstat', err);
    });
    p.catch(ignore);
    f.ahead.push(p);
  }
  return f.ahead.shift()!;
}

async function lstatOf(root: string, abs: string, rel: string, pacer: Pacer): Promise<BigIntStats> {
  try {
    return pacer.sync ? pacer.timed(() => lstatBigSync(abs)) : await lstatBig(abs);
  } catch (err) {
    throw episodeFsError(root, rel, 'lstat', err);
  }
}

async function listFolder(root: string, abs: string, rel: string, pacer: Pacer): Promise<Child[]> {
  let dirents: Dirent<Buffer>[];
  try {
    dirents = pacer.sync
      ? pacer.timed(() => readdirSync(abs, { withFileTypes: true, encoding: 'buffer' }))
      : await readdir(abs, { withFileTypes: true, encoding: 'buffer' });
  } catch (err) {
    throw episodeFsError(root, rel, 'list', err);
  }
  const prefix = rel === '' ? '' : `${rel}/`;
  const children = dirents.map((d): Child => {
    if (!isUtf8(d.name)) throw nonUtf8(root, prefix + showBytes(d.name), 'name');
    const name = d.name.toString('utf8');
    const isDir = d.isDirectory();
    return { key: isDir ? Buffer.concat([d.name, SLASH]) : d.name, isDir, abs: `${abs}/${name}`, rel: prefix + name };
  });
  children.sort((a, b) => Buffer.compare(a.key, b.key));
  return children;
}
