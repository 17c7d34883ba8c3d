// packEpisode: one episode folder → one `.tar.zst` temp file, written, fsynced, closed.
//
//   walk (lstat, ordered) ─▶ prefetch (small files read ahead) ─▶ tar entries ─▶ frames ─▶ out
//        walk.ts                 prefetch.ts, read.ts              tar.ts       frames.ts
//
// Two loops run at once: the producer walks and feeds tar entries; the consumer drains the
// tar stream into zstd frames. Each waits on the other through the tar stream's small
// buffer, so reading never runs ahead of compression by more than the prefetch budget.
// The first failure (or the caller's abort) wins: the other loop is stopped through the
// tar stream, in-flight reads and compressions are left to finish into the void, and the
// temp file is closed and removed before the promise rejects. The caller renames `out`.

import { isUtf8 } from 'node:buffer';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { ErrorCodes, errnoOf, fsError, ShipperError } from '../errors.js';
import { silentLogger } from '../log/logger.js';
import type { Logger } from '../log/logger.js';
import { changed, episodeFsError, nonUtf8, showBytes } from './episode-errors.js';
import { Fingerprint } from './fingerprint.js';
import { FrameWriter } from './frames.js';
import { closeFd, readlinkBuf } from './fsx.js';
import { Pacer } from './pacer.js';
import { prefetch } from './prefetch.js';
import { finishChecked, openChecked, readChunk } from './read.js';
import { headerFor, TarWriter } from './tar.js';
import { abortedError, isArchived, verifyFolders, walkEpisode, type WalkEntry } from './walk.js';

export interface PackOptions {
  /** Absolute path of episodes/<id>. */
  episodeDir: string;
  /** The archive's root folder name (`<id>/`). */
  id: string;
  /** Temp file to create with O_EXCL ('wx'); written, fsynced, closed. The caller renames it. */
  out: string;
  /** zstd level 1..19 (validated by the config). */
  level: number;
  /** 0/undefined = no limit; sum of regular files' sizes. Exceeding it throws SHIP_EPISODE_TOO_LARGE as soon as known. */
  maxInputBytes?: number;
  /** Uncompressed (tar) bytes per zstd frame; default 4 MiB. */
  frameBytes?: number;
  /** Frames compressed at once; default max(2, os.availableParallelism()). */
  parallel?: number;
  /** Abort → SHIP_ABORTED, temp removed. */
  signal?: AbortSignal;
  /** Called with the input bytes consumed so far, after every entry and every chunk of a large file. */
  onProgress?: (inputBytes: number) => void;
  log?: Logger;
}

export interface PackResult {
  /** Archive size. */
  bytes: number;
  /** sha-256 of the archive bytes, computed as they were written. */
  sha256: Buffer;
  /** Sum of regular file sizes. */
  inputBytes: number;
  /** Tar entries written (pax extension headers not counted). */
  entries: number;
  /** FIFOs, sockets and devices left out. */
  skipped: number;
  /** Hex sha-256 over every archived entry's (path, type, mode, size, mtime ns, inode); see fingerprint.ts. */
  fingerprint: string;
}

export const DEFAULT_FRAME_BYTES = 4 * 1024 * 1024;
/** Files up to this size are read whole, in one read, ahead of the tar writer. */
export const SMALL_FILE_BYTES = 1024 * 1024;
/** Larger files are read in chunks of this size, one chunk ahead. */
export const CHUNK_BYTES = 2 * 1024 * 1024;
const AHEAD_COUNT = 64;
const TAR_WINDOW = 64;
const TAR_WINDOW_BYTES = 1024 * 1024;

interface Counters {
  inputBytes: number;
  entries: number;
  skipped: number;
}

const ignore = (): void => {};

/** How the pack does its file-system calls; tests use it to run the threadpool path (pacer.ts). */
export interface PackInternals {
  pacer?: Pacer;
}

/** Pack `o.episodeDir` into `o.out` (see SPEC "The archive" and docs/archive.md). */
export async function packEpisode(o: PackOptions, internals: PackInternals = {}): Promise<PackResult> {
  const frameBytes = o.frameBytes ?? DEFAULT_FRAME_BYTES;
  const parallel = o.parallel ?? Math.max(2, availableParallelism());
  if (!Number.isSafeInteger(frameBytes) || frameBytes < 1024) {
    throw new ShipperError(ErrorCodes.INTERNAL, `pack ${o.id}: frameBytes must be an integer >= 1024, got ${frameBytes}`);
  }
  if (!Number.isSafeInteger(parallel) || parallel < 1) {
    throw new ShipperError(ErrorCodes.INTERNAL, `pack ${o.id}: parallel must be an integer >= 1, got ${parallel}`);
  }
  if (o.signal?.aborted) throw abortedError(`pack ${o.id}`);

  let file: FileHandle;
  try {
    file = await open(o.out, 'wx', 0o600);
  } catch (err) {
    // Not ours to remove: it existed before, or could not be created.
    throw fsError(`pack ${o.id}: create ${o.out}`, err);
  }
  const frames = new FrameWriter({ file, path: o.out, frameBytes, parallel, level: o.level });
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(abortedError(`pack ${o.id}`));
  o.signal?.addEventListener('abort', onAbort, { once: true });
  // An abort must not wait for a frame still compressing (seconds at level 19): the
  // pipeline is told to stop and left to wind down; FrameWriter.abandon guarantees it
  // writes nothing more to the file.
  const aborted = new Promise<never>((_, reject) => {
    stop.signal.addEventListener('abort', () => reject(stop.signal.reason), { once: true });
  });
  aborted.catch(ignore);
  try {
    const pacer = internals.pacer ?? new Pacer();
    const result = await Promise.race([pipeline(o, frames, stop.signal, pacer), aborted]);
    const written = await Promise.race([frames.end(), aborted]);
    if (o.signal?.aborted) throw abortedError(`pack ${o.id}`);
    try {
      await file.sync();
      await file.close();
    } catch (err) {
      throw fsError(`pack ${o.id}: fsync ${o.out}`, err);
    }
    return { ...result, bytes: written.bytes, sha256: written.sha256 };
  } catch (err) {
    stop.abort(err);
    await frames.abandon();
    await file.close().catch(ignore);
    await rm(o.out, { force: true }).catch(ignore);
    throw err instanceof ShipperError ? err : fsError(`pack ${o.id}`, err);
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * The producer (walk → tar entries) and the consumer (tar stream → frames), run at once.
 * The first failure, or `stop`, destroys the tar stream, which ends the other loop.
 */
async function pipeline(
  o: PackOptions,
  frames: FrameWriter,
  stop: AbortSignal,
  pacer: Pacer,
): Promise<Omit<PackResult, 'bytes' | 'sha256'>> {
  const root = resolve(o.episodeDir);
  const tar = new TarWriter();
  const fp = new Fingerprint();
  const n: Counters = { inputBytes: 0, entries: 0, skipped: 0 };
  let failure: unknown;
  const fail = (err: unknown): void => {
    if (failure !== undefined) return;
    failure = err;
    tar.destroy(err instanceof Error ? err : new Error(String(err)));
  };
  const onStop = (): void => fail(stop.reason);
  stop.addEventListener('abort', onStop, { once: true });
  try {
    const produce = produceEntries(o, root, tar, fp, n, stop, pacer)
      .then(() => tar.finalize())
      .catch(fail);
    const consume = (async () => {
      for await (const chunk of tar.output) await frames.write(chunk);
    })().catch(fail);
    await Promise.all([produce, consume]);
  } finally {
    stop.removeEventListener('abort', onStop);
  }
  if (failure !== undefined) throw failure;
  return { ...n, fingerprint: fp.digest() };
}

async function produceEntries(
  o: PackOptions,
  root: string,
  tar: TarWriter,
  fp: Fingerprint,
  n: Counters,
  stop: AbortSignal,
  pacer: Pacer,
): Promise<void> {
  const log = o.log ?? silentLogger;
  const items = prefetch(walkEpisode(root, stop, pacer), {
    pacer,
    root,
    id: o.id,
    smallFileBytes: SMALL_FILE_BYTES,
    aheadCount: AHEAD_COUNT,
    aheadBytes: Math.max(o.frameBytes ?? DEFAULT_FRAME_BYTES, SMALL_FILE_BYTES),
    maxInputBytes: o.maxInputBytes ?? 0,
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
      log.warn('pack_skipped', { path: e.rel, type: e.kind });
      n.skipped += 1;
    } else {
      if (e.kind === 'directory') {
        folders.push(e);
        await enqueue(tar.add(headerFor(o.id, e)), 0);
      } else if (e.kind === 'symlink') {
        await enqueue(tar.add(headerFor(o.id, e, await linkTarget(root, e))), 0);
      } else if (data !== null) {
        const buf = await data;
        await enqueue(tar.add(headerFor(o.id, e), buf), buf.length);
        n.inputBytes += buf.length;
      } else {
        await streamFile(o, root, e, tar, n, stop);
      }
      fp.add(e);
      n.entries += 1;
    }
    o.onProgress?.(n.inputBytes);
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
async function streamFile(o: PackOptions, root: string, e: WalkEntry, tar: TarWriter, n: Counters, stop: AbortSignal): Promise<void> {
  const f = await openChecked(root, e);
  let next: Promise<Buffer> | null = null;
  try {
    await tar.addStreamed(headerFor(o.id, e), async (write) => {
      let pos = 0;
      next = readChunk(root, e, f, 0, Math.min(CHUNK_BYTES, f.size));
      while (next !== null) {
        const chunk: Buffer = await next;
        pos += chunk.length;
        next = pos < f.size ? readChunk(root, e, f, pos, Math.min(CHUNK_BYTES, f.size - pos)) : null;
        next?.catch(ignore);
        await write(chunk);
        n.inputBytes += chunk.length;
        o.onProgress?.(n.inputBytes);
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
