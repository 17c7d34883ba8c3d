// Reading one regular file of an episode without ever shipping it torn.
//
// The contract with the walk: the file was lstat'ed as a regular file with some size and
// mtime. Here it is opened with O_NOFOLLOW|O_NONBLOCK (fsx.ts), fstat'ed and compared with
// that lstat (type, inode, size, mtime); read to exactly `size` bytes, plus a probe for one
// byte more; fstat'ed again (size and mtime must not have moved). Anything else is
// SHIP_EPISODE_CHANGED. Every path out of here closes the descriptor.
//
// Small files are read whole, into room for size+1 bytes (a file that grew fills it):
// synchronously while the pacer allows (pacer.ts), else on the threadpool. The synchronous
// path makes four calls instead of six — open, read, fstat, close — since every call
// counts with thousands of small files: no fstat before the read (the one after it checks
// type and inode as well; O_NOFOLLOW|O_NONBLOCK mean nothing was followed and nothing
// blocked, and the bytes are dropped if it fails) and no second read to see EOF (a file
// that grew after the read has another size by then). test/pack/read.test.ts holds both
// paths to the same contract.

import type { BigIntStats } from 'node:fs';
import { changed, episodeFsError } from './episode-errors.js';
import {
  closeFd,
  closeFdSync,
  fstatBig,
  fstatBigSync,
  openForRead,
  openForReadSync,
  readAt,
  readAtSync,
} from './fsx.js';
import type { Pacer } from './pacer.js';
import type { WalkEntry } from './walk.js';

export interface OpenFile {
  readonly fd: number;
  readonly size: number;
}

/** Open `e` and check that it is still the file the walk saw. */
export async function openChecked(root: string, e: WalkEntry): Promise<OpenFile> {
  let fd: number;
  try {
    fd = await openForRead(e.abs);
  } catch (err) {
    throw episodeFsError(root, e.rel, 'open', err);
  }
  try {
    compareOpened(root, e, await fstatBig(fd));
    return { fd, size: Number(e.st.size) };
  } catch (err) {
    await closeFd(fd).catch(() => {});
    throw episodeFsError(root, e.rel, 'fstat', err);
  }
}

/** The opened file is the one lstat saw, unchanged. */
function compareOpened(root: string, e: WalkEntry, st: BigIntStats): void {
  if (!st.isFile()) throw changed(root, e.rel, 'type_changed');
  if (st.ino !== e.st.ino || st.dev !== e.st.dev) throw changed(root, e.rel, 'replaced');
  compareStable(root, e, st);
}

function compareStable(root: string, e: WalkEntry, st: BigIntStats): void {
  if (st.size !== e.st.size) throw changed(root, e.rel, 'size_changed');
  if (st.mtimeNs !== e.st.mtimeNs) throw changed(root, e.rel, 'mtime_changed');
}

/** Fill `buf[0..len)` from `position`, looping over short reads; false if EOF came first. */
async function readFully(fd: number, buf: Buffer, len: number, position: number): Promise<boolean> {
  let done = 0;
  while (done < len) {
    const n = await readAt(fd, buf, done, len - done, position + done);
    if (n === 0) return false;
    done += n;
  }
  return true;
}

/** After the last byte: nothing more to read, and size and mtime as the walk saw them. */
export async function finishChecked(root: string, e: WalkEntry, f: OpenFile): Promise<void> {
  try {
    const probe = Buffer.allocUnsafe(1);
    if ((await readAt(f.fd, probe, 0, 1, f.size)) !== 0) throw changed(root, e.rel, 'grew');
    compareStable(root, e, await fstatBig(f.fd));
  } catch (err) {
    throw episodeFsError(root, e.rel, 'read', err);
  }
}

/** Read a chunk of an open file at `position`; the file shrank if EOF comes early. */
export async function readChunk(root: string, e: WalkEntry, f: OpenFile, position: number, len: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(len);
  let complete: boolean;
  try {
    complete = await readFully(f.fd, buf, len, position);
  } catch (err) {
    throw episodeFsError(root, e.rel, 'read', err);
  }
  if (!complete) throw changed(root, e.rel, 'shrank');
  return buf;
}

/** The whole of a small file (see SMALL_FILE_BYTES in produce.ts), sync or async as the pacer says. */
export function readWhole(root: string, e: WalkEntry, pacer: Pacer): Promise<Buffer> {
  if (!pacer.sync) return readWholeAsync(root, e);
  try {
    return Promise.resolve(pacer.timed(() => readWholeSync(root, e)));
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

/**
 * Fresh memory for small reads, carved from 1 MiB slabs: one ArrayBuffer (and one later
 * collection) per slab instead of per file — Buffer's own pool stops at 4 KiB, and a 4 KiB
 * file needs 4 KiB + 1. Memory is never reused; a slab is freed once every file read into
 * it has gone through the tar writer.
 */
class Slab {
  static readonly SIZE = 1024 * 1024;
  #slab = Buffer.allocUnsafe(0);
  #used = 0;

  take(n: number): Buffer {
    if (n > Slab.SIZE / 4) return Buffer.allocUnsafe(n);
    if (this.#used + n > this.#slab.length) {
      this.#slab = Buffer.allocUnsafe(Slab.SIZE);
      this.#used = 0;
    }
    const b = this.#slab.subarray(this.#used, this.#used + n);
    this.#used += n;
    return b;
  }
}

const slab = new Slab();

function readWholeSync(root: string, e: WalkEntry): Buffer {
  let fd: number;
  try {
    fd = openForReadSync(e.abs);
  } catch (err) {
    throw episodeFsError(root, e.rel, 'open', err);
  }
  try {
    const size = Number(e.st.size);
    const buf = slab.take(size + 1);
    let done = 0;
    let readErr: unknown = null;
    try {
      // Room for one byte more than lstat said: a file that grew fills it. A regular
      // file gives its bytes in one read; no second read to see EOF (the fstat below
      // tells a file that grew after this read by its size).
      while (done < size) {
        const n = readAtSync(fd, buf, done, buf.length - done, done);
        if (n === 0) break;
        done += n;
      }
    } catch (err) {
      readErr = err;
    }
    // One fstat after the read, not one before and one after: whatever was opened
    // (O_NOFOLLOW|O_NONBLOCK, so nothing blocks and no link is followed) must be the
    // file lstat saw (type, inode), with the same size and mtime, or its bytes are dropped.
    compareOpened(root, e, fstatBigSync(fd));
    if (readErr !== null) throw readErr;
    if (done > size) throw changed(root, e.rel, 'grew');
    if (done < size) throw changed(root, e.rel, 'shrank');
    return buf.subarray(0, size);
  } catch (err) {
    throw episodeFsError(root, e.rel, 'read', err);
  } finally {
    try {
      closeFdSync(fd);
    } catch {
      // A read-only descriptor: nothing was lost.
    }
  }
}

async function readWholeAsync(root: string, e: WalkEntry): Promise<Buffer> {
  const f = await openChecked(root, e);
  try {
    const buf = Buffer.allocUnsafe(f.size + 1);
    let done = 0;
    for (;;) {
      let n: number;
      try {
        n = await readAt(f.fd, buf, done, buf.length - done, done);
      } catch (err) {
        throw episodeFsError(root, e.rel, 'read', err);
      }
      if (n === 0) break;
      done += n;
      if (done > f.size) throw changed(root, e.rel, 'grew');
    }
    if (done < f.size) throw changed(root, e.rel, 'shrank');
    try {
      compareStable(root, e, await fstatBig(f.fd));
    } catch (err) {
      throw episodeFsError(root, e.rel, 'fstat', err);
    }
    return buf.subarray(0, f.size);
  } finally {
    await closeFd(f.fd).catch(() => {});
  }
}
