// The producer side of a pack: every entry of the walk, in order, into the tar stream —
// folders and symlinks as headers, small files whole (already read by prefetch.ts), large
// files streamed in chunks — while counting, fingerprinting and logging what is skipped.
// After the last entry every folder is checked again (walk.ts, verifyFolders).

import { isUtf8 } from 'node:buffer';
import { errnoOf } from '../errors.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { changed, episodeFsError, nonUtf8, showBytes } from './episode-errors.js';
import type { Fingerprint } from './fingerprint.js';
import { closeFd, readlinkBuf } from './fsx.js';
import type { Pacer } from './pacer.js';
import { prefetch } from './prefetch.js';
import { finishChecked, openChecked, readChunk } from './read.js';
import { headerFor, type TarWriter } from './tar.js';
import { isArchived, verifyFolders, walkEpisode, type WalkEntry } from './walk.js';

/** Files up to this size are read whole, in one read, ahead of the tar writer. */
export const SMALL_FILE_BYTES = 1024 * 1024;
/** Larger files are read in chunks of this size, one chunk ahead. */
export const CHUNK_BYTES = 2 * 1024 * 1024;
/** Entries read ahead of the tar writer (their bytes: at most max(frameBytes, SMALL_FILE_BYTES)). */
const AHEAD_COUNT = 64;
/** Entries queued inside tar-stream (see `enqueue`). */
const TAR_WINDOW = 64;
const TAR_WINDOW_BYTES = 1024 * 1024;

export interface Counters {
  inputBytes: number;
  entries: number;
  skipped: number;
}

export interface ProduceContext {
  id: string;
  root: string;
  frameBytes: number;
  maxInputBytes?: number;
  onProgress?: (inputBytes: number) => void;
  log?: Logger;
  tar: TarWriter;
  fp: Fingerprint;
  n: Counters;
  stop: AbortSignal;
  pacer: Pacer;
}

const ignore = (): void => {};

/** Feed every entry of the episode to `c.tar`, in archive order; resolves once all are in. */
export async function produceEntries(c: ProduceContext): Promise<void> {
  const { root, tar, fp, n, stop, pacer } = c;
  const log = c.log ?? silentLogger;
  const items = prefetch(walkEpisode(root, stop, pacer), {
    pacer,
    root,
    id: c.id,
    smallFileBytes: SMALL_FILE_BYTES,
    aheadCount: AHEAD_COUNT,
    aheadBytes: Math.max(c.frameBytes, SMALL_FILE_BYTES),
    maxInputBytes: c.maxInputBytes ?? 0,
  });
  // Entries handed to tar-stream but not yet taken by it. Waiting for each one in turn
  // costs more than the entry itself for small files (stream set-up per entry), so up to
  // TAR_WINDOW entries / TAR_WINDOW_BYTES are queued inside tar-stream, which keeps order.
  const queued: Array<{ done: Promise<void>; bytes: number }> = [];
  let queuedBytes = 0;
  const enqueue = async (done: Promise<void>, bytes: number): Promise<void> => {
    done.catch(ignore);
    queued.push({ done, bytes });
    queuedBytes += bytes;
    while (queued.length > TAR_WINDOW || (queuedBytes > TAR_WINDOW_BYTES && queued.length > 1)) {
      const oldest = queued.shift()!;
      queuedBytes -= oldest.bytes;
      await oldest.done;
    }
  };
  const folders: WalkEntry[] = [];
  for await (const { entry: e, data } of items) {
    if (stop.aborted) throw stop.reason;
    if (!isArchived(e.kind)) {
      // Never opened: open(2) on a FIFO blocks until a writer comes, and a device's open
      // can have side effects. The walk saw it with lstat only.
      log.warn('pack_skipped', { episode: c.id, path: e.rel, type: e.kind });
      n.skipped += 1;
    } else {
      if (e.kind === 'directory') {
        folders.push(e);
        await enqueue(tar.add(headerFor(c.id, e)), 0);
      } else if (e.kind === 'symlink') {
        await enqueue(tar.add(headerFor(c.id, e, await linkTarget(root, e))), 0);
      } else if (data !== null) {
        const buf = await data;
        await enqueue(tar.add(headerFor(c.id, e), buf), buf.length);
        n.inputBytes += buf.length;
      } else {
        await streamFile(c, e);
      }
      fp.add(e);
      n.entries += 1;
    }
    c.onProgress?.(n.inputBytes);
  }
  for (const q of queued) await q.done;
  await verifyFolders(root, folders, pacer);
}

async function linkTarget(root: string, e: WalkEntry): Promise<string> {
  let target: Buffer;
  try {
    target = await readlinkBuf(e.abs);
  } catch (err) {
    // EINVAL: no longer a symlink.
    throw errnoOf(err) === 'EINVAL' ? changed(root, e.rel, 'type_changed', err) : episodeFsError(root, e.rel, 'readlink', err);
  }
  if (target.length !== Number(e.st.size)) throw changed(root, e.rel, 'replaced');
  if (!isUtf8(target)) throw nonUtf8(root, `${e.rel} -> ${showBytes(target)}`, 'link_target');
  return target.toString('utf8');
}

/** A large file: chunks of CHUNK_BYTES, the next one read while the current one is taken. */
async function streamFile(c: ProduceContext, e: WalkEntry): Promise<void> {
  const { root, tar, n, stop } = c;
  const f = await openChecked(root, e);
  let next: Promise<Buffer> | null = null;
  try {
    await tar.addStreamed(headerFor(c.id, e), async (write) => {
      let pos = 0;
      next = readChunk(root, e, f, 0, Math.min(CHUNK_BYTES, f.size));
      while (next !== null) {
        const chunk: Buffer = await next;
        pos += chunk.length;
        next = pos < f.size ? readChunk(root, e, f, pos, Math.min(CHUNK_BYTES, f.size - pos)) : null;
        next?.catch(ignore);
        await write(chunk);
        n.inputBytes += chunk.length;
        c.onProgress?.(n.inputBytes);
        if (stop.aborted) throw stop.reason;
      }
      await finishChecked(root, e, f);
    });
  } finally {
    // Never close under a read in flight: the fd number could be reused by another open.
    await (next as Promise<Buffer> | null)?.catch(ignore);
    await closeFd(f.fd).catch(ignore);
  }
}
