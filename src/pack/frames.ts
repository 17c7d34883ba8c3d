// The tar stream cut into fixed-size pieces, each compressed into an independent zstd
// frame, `parallel` at a time on the libuv threadpool, written to the archive in order.
//
//   write(chunk) ──copy──▶ [filling frame] ──full──▶ compress ×parallel ──in order──▶ file
//                                                     (threadpool)          + sha-256
//
// Frame k holds tar bytes [k·frameBytes, (k+1)·frameBytes): the cut depends on nothing but
// the stream and frameBytes, so the same tree packs to the same bytes. At most `parallel`
// frames compress at once; a frame that finishes before an older one gives its slot (and
// its input buffer) back at once and waits, compressed, for its turn to be written — at
// most 2 × parallel frames between dispatch and write, so one slow frame does not idle
// the other threads. Memory: the frame being filled, `parallel` inputs in zstd, and the
// compressed outputs waiting — about frameBytes × (parallel + 2) on compressible data,
// whatever the size of the episode (bounded by frameBytes × (3·parallel + 1) if nothing
// compresses).
//
// Compression runs on the libuv threadpool, which also serves every async fs call and
// has UV_THREADPOOL_SIZE threads (default 4): `parallel` above that gains nothing, and at
// that size file reads queue behind compressions. The entry point sizes the pool.
//
// The native binding is used directly: @mongodb-js/zstd 1.2.2's top-level `compress(buf)`
// wrapper drops the level argument; the binding's `compress(buf, level)` honours it.

import type { FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { ErrorCodes, fsError, ShipperError } from '../errors.js';

export interface ZstdBinding {
  compress(data: Buffer, level?: number): Promise<Buffer>;
}

let binding: ZstdBinding | undefined;
function zstd(): ZstdBinding {
  binding ??= createRequire(import.meta.url)('@mongodb-js/zstd/bindings.js') as ZstdBinding;
  return binding;
}

export interface FrameWriterOptions {
  file: FileHandle;
  /** The file's path, for messages. */
  path: string;
  frameBytes: number;
  parallel: number;
  level: number;
}

const ignore = (): void => {};

export class FrameWriter {
  readonly #file: FileHandle;
  readonly #path: string;
  readonly #frameBytes: number;
  readonly #parallel: number;
  readonly #level: number;
  readonly #hash = createHash('sha256');
  readonly #pool: Buffer[] = [];
  #frame: Buffer | null = null;
  #fill = 0;
  /** Frames handed to zstd and not back yet (≤ parallel). */
  #compressing = 0;
  /** Frames handed to zstd and not yet written (≤ 2 × parallel: a frame that finished
   *  early waits for the older ones without holding a compression slot). */
  #unwritten = 0;
  /** Wakes #dispatch when a compression or a write finishes. */
  #wake: (() => void) | null = null;
  /** The first failure of a compression or a write. */
  #failure: unknown = undefined;
  /** The tail of the ordered write chain. */
  #chain: Promise<void> = Promise.resolve();
  /** The write to the file in progress, if any. */
  #writing: Promise<void> | null = null;
  #dead = false;
  #bytes = 0;
  #frames = 0;

  constructor(o: FrameWriterOptions) {
    this.#file = o.file;
    this.#path = o.path;
    this.#frameBytes = o.frameBytes;
    this.#parallel = o.parallel;
    this.#level = o.level;
  }

  /** Take a chunk of the tar stream (copied; the caller may reuse it once this resolves). */
  async write(chunk: Buffer): Promise<void> {
    if (this.#dead) throw new Error('frame writer abandoned');
    let off = 0;
    while (off < chunk.length) {
      this.#frame ??= this.#pool.pop() ?? Buffer.allocUnsafe(this.#frameBytes);
      const n = Math.min(chunk.length - off, this.#frameBytes - this.#fill);
      chunk.copy(this.#frame, this.#fill, off, off + n);
      this.#fill += n;
      off += n;
      if (this.#fill === this.#frameBytes) await this.#dispatch();
    }
  }

  /** Flush the last, partial frame and wait until every frame is written. */
  async end(): Promise<{ bytes: number; sha256: Buffer; frames: number }> {
    if (this.#fill > 0) await this.#dispatch();
    await this.#chain;
    return { bytes: this.#bytes, sha256: this.#hash.digest(), frames: this.#frames };
  }

  /**
   * Stop: frames still compressing are dropped when they finish; resolves once no write
   * to the file is in progress, so that the caller may close and remove it.
   */
  async abandon(): Promise<void> {
    this.#dead = true;
    await this.#writing?.catch(ignore);
  }

  async #dispatch(): Promise<void> {
    const frame = this.#frame!;
    const input = this.#fill === frame.length ? frame : frame.subarray(0, this.#fill);
    this.#frame = null;
    this.#fill = 0;
    while (this.#compressing >= this.#parallel || this.#unwritten >= 2 * this.#parallel) {
      if (this.#failure !== undefined) throw this.#failure;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    if (this.#failure !== undefined) throw this.#failure;
    this.#compressing += 1;
    this.#unwritten += 1;
    const compressed = zstd()
      .compress(input, this.#level)
      .finally(() => {
        this.#compressing -= 1;
        this.#pool.push(frame);
        this.#notify();
      });
    compressed.catch(ignore);
    const written = this.#chain.then(async () => {
      let out: Buffer;
      try {
        out = await compressed;
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        throw new ShipperError(ErrorCodes.IO, `pack ${this.#path}: zstd compression failed: ${msg}`, { cause: err });
      }
      if (this.#dead) return;
      this.#writing = this.#writeOut(out);
      try {
        await this.#writing;
      } finally {
        this.#writing = null;
      }
    });
    written
      .catch((err: unknown) => {
        this.#failure ??= err;
      })
      .finally(() => {
        this.#unwritten -= 1;
        this.#notify();
      });
    this.#chain = written;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async #writeOut(out: Buffer): Promise<void> {
    this.#hash.update(out);
    let off = 0;
    try {
      while (off < out.length) {
        const { bytesWritten } = await this.#file.write(out, off, out.length - off);
        off += bytesWritten;
      }
    } catch (err) {
      throw fsError(`pack: write ${this.#path}`, err);
    }
    this.#bytes += out.length;
    this.#frames += 1;
  }
}
