// packEpisode: one episode folder → one `.tar.zst` temp file, written, fsynced, closed.
//
//   walk (lstat, ordered) ─▶ prefetch (small files read ahead) ─▶ tar entries ─▶ frames ─▶ out
//        walk.ts                 prefetch.ts, read.ts            produce.ts, tar.ts  frames.ts
//
// Two loops run at once: the producer walks and feeds tar entries; the consumer drains the
// tar stream into zstd frames. Each waits on the other through the tar stream's small
// buffer, so reading never runs ahead of compression by more than the prefetch budget.
// The first failure (or the caller's abort) wins: the other loop is stopped through the
// tar stream, in-flight reads and compressions are left to finish into the void, and the
// temp file is closed and removed before the promise rejects. The caller renames `out`.

import { open, rm, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { ErrorCodes, fsError, ShipperError } from '../errors.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { Fingerprint } from './fingerprint.js';
import { FrameWriter } from './frames.js';
import { Pacer } from './pacer.js';
import { produceEntries, type Counters } from './produce.js';
import { TarWriter } from './tar.js';
import { abortedError } from './walk.js';

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
  const pacer = internals.pacer ?? new Pacer();
  const started = performance.now();
  try {
    const result = await Promise.race([pipeline(o, frames, stop.signal, pacer), aborted]);
    const written = await Promise.race([frames.end(), aborted]);
    if (o.signal?.aborted) throw abortedError(`pack ${o.id}`);
    try {
      await file.sync();
      await file.close();
    } catch (err) {
      throw fsError(`pack ${o.id}: fsync ${o.out}`, err);
    }
    (o.log ?? silentLogger).debug('pack_done', {
      episode: o.id,
      entries: result.entries,
      skipped: result.skipped,
      input_bytes: result.inputBytes,
      bytes: written.bytes,
      frames: written.frames,
      level: o.level,
      io: pacer.sync ? 'sync' : 'threadpool',
      ms: Math.round(performance.now() - started),
    });
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
    const produce = produceEntries({
      id: o.id,
      root,
      frameBytes: o.frameBytes ?? DEFAULT_FRAME_BYTES,
      ...(o.maxInputBytes === undefined ? {} : { maxInputBytes: o.maxInputBytes }),
      ...(o.onProgress === undefined ? {} : { onProgress: o.onProgress }),
      ...(o.log === undefined ? {} : { log: o.log }),
      tar,
      fp,
      n,
      stop,
      pacer,
    })
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
