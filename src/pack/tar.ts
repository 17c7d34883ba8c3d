// Tar entries through tar-stream 3.x, with the knowledge of its quirks kept in one place:
//
// - It writes a plain ustar header when the name is ASCII and fits (split into prefix and
//   name at a `/`) and the link target has at most 100 bytes; otherwise a pax `x` header
//   (path, linkpath) before it. Extra pax records come from `header.pax`; any of them also
//   forces the pax header.
// - It replaces a falsy `mode` with 0644/0755, so mode 000 would be lost: we pass the
//   whole st_mode (type bits make it non-zero) and it masks with 07777 itself.
// - It writes mtime as `(ms / 1000) | 0`, which wraps after 2038-01-19 and turns
//   negative times into garbage: such times go into a pax `mtime` record and the ustar
//   field gets the nearest value it can hold.
// - Sizes of 8 GiB and more do not fit 11 octal digits; it would write GNU base-256. We
//   add a pax `size` record as POSIX asks, and the ustar field keeps base-256.
// - It does not add the trailing `/` to directory names (its check reads a field that is
//   never set), so we do.

import tarStream from 'tar-stream';
import type { Header, Pack } from 'tar-stream';
import type { WalkEntry } from './walk.js';

/** The header fields we set; `pax` holds extra pax records (key → value). */
export type TarHeader = Partial<Omit<Header, 'pax'>> & { name: string; pax?: Record<string, string> };

const ignore = (): void => {};

/** The largest size the 11 octal digits of a ustar header hold. */
export const USTAR_MAX_SIZE = 0o77777777777;
/** mtimes in [0, 2^31) survive tar-stream's `| 0`. */
const MTIME_MAX = 2 ** 31 - 1;

/** The name of `e` in the archive: `<id>/`, `<id>/dir/`, `<id>/dir/file`. */
export function entryName(id: string, e: WalkEntry): string {
  if (e.rel === '') return `${id}/`;
  return e.kind === 'directory' ? `${id}/${e.rel}/` : `${id}/${e.rel}`;
}

export function headerFor(id: string, e: WalkEntry, linkname?: string): TarHeader {
  const seconds = Number(e.st.mtimeNs / 1_000_000_000n - (e.st.mtimeNs % 1_000_000_000n < 0n ? 1n : 0n));
  const header: TarHeader = {
    name: entryName(id, e),
    // Whole st_mode on purpose (see above); only mode & 07777 reaches the archive.
    mode: Number(e.st.mode),
    uid: 0,
    gid: 0,
    mtime: new Date(Math.min(Math.max(seconds, 0), MTIME_MAX) * 1000),
  };
  const pax: Record<string, string> = {};
  if (seconds < 0 || seconds > MTIME_MAX) pax.mtime = String(seconds);
  switch (e.kind) {
    case 'directory':
      header.type = 'directory';
      break;
    case 'symlink':
      header.type = 'symlink';
      header.linkname = linkname ?? '';
      break;
    default: {
      header.type = 'file';
      const size = Number(e.st.size);
      header.size = size;
      if (size > USTAR_MAX_SIZE) pax.size = String(size);
    }
  }
  if (Object.keys(pax).length > 0) header.pax = pax;
  return header;
}

/**
 * A tar-stream Pack fed one entry at a time. `add` resolves once the entry's bytes are in
 * the pack's buffer, which holds little more than one entry: the consumer of `output`
 * pulling chunks is what lets the next entry in (backpressure end to end).
 */
export class TarWriter {
  readonly #pack: Pack = tarStream.pack();

  constructor() {
    // streamx emits 'error' on every stream destroyed with an error, and an 'error' with
    // no listener is an uncaught exception. Failures reach us through the entry callbacks
    // and the output iterator; these listeners only keep the process alive.
    this.#pack.on('error', ignore);
  }

  /** The tar stream's bytes, chunk by chunk (each chunk is a Buffer). */
  get output(): AsyncIterable<Buffer> {
    return this.#pack as AsyncIterable<unknown> as AsyncIterable<Buffer>;
  }

  /** A directory, a symlink or a whole (small) file. */
  add(header: TarHeader, data?: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: Error | null): void => (err ? reject(err) : resolve());
      const sink = data === undefined ? this.#pack.entry(header, done) : this.#pack.entry(header, data, done);
      sink.on('error', ignore);
    });
  }

  /**
   * A file whose `header.size` bytes come from `fill`, which must call `write` for each
   * chunk in order and wait for it (that wait is the backpressure).
   */
  async addStreamed(header: TarHeader, fill: (write: (chunk: Buffer) => Promise<void>) => Promise<void>): Promise<void> {
    let sink: ReturnType<Pack['entry']> | undefined;
    // tar-stream calls back exactly once, when the entry's sink is gone: after its last
    // byte went into the pack, or with the error that destroyed it (or the pack).
    const entryDone = new Promise<void>((resolve, reject) => {
      sink = this.#pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
    entryDone.catch(ignore);
    // entry() throws (so the promise rejects) when the pack is already destroyed.
    if (sink === undefined) return entryDone;
    const s = sink;
    s.on('error', ignore);
    const write = async (chunk: Buffer): Promise<void> => {
      if (s.destroyed) return entryDone;
      if (s.write(chunk)) return undefined;
      await new Promise<void>((resolve) => {
        const go = (): void => {
          s.off('drain', go);
          s.off('close', go);
          resolve();
        };
        s.on('drain', go);
        s.on('close', go);
      });
      return s.destroyed ? entryDone : undefined;
    };
    try {
      await fill(write);
    } catch (err) {
      s.destroy(err as Error);
      throw err;
    }
    s.end(null);
    await entryDone;
  }

  finalize(): void {
    this.#pack.finalize();
  }

  destroy(err: Error): void {
    this.#pack.destroy(err);
  }
}
