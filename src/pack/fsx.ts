// Thin promise wrappers over the callback fs API for the packer's hot path. A pack of
// 20 000 small files makes ~100 000 of these calls; the callback API skips the FileHandle
// bookkeeping of fs/promises. Every opener here closes what it opened (see read.ts).

import fs, { constants, type BigIntStats } from 'node:fs';

/**
 * How episode files are opened: never through a symlink (ELOOP instead), and never
 * blocking in open(2) — a file swapped for a FIFO between lstat and open would otherwise
 * hang the shipper until a writer appears. fstat right after open catches the swap.
 */
export const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export function lstatBig(path: string): Promise<BigIntStats> {
  return new Promise((resolve, reject) => {
    fs.lstat(path, { bigint: true }, (err, st) => (err ? reject(err) : resolve(st)));
  });
}

export function openForRead(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.open(path, OPEN_FLAGS, (err, fd) => (err ? reject(err) : resolve(fd)));
  });
}

export function fstatBig(fd: number): Promise<BigIntStats> {
  return new Promise((resolve, reject) => {
    fs.fstat(fd, { bigint: true }, (err, st) => (err ? reject(err) : resolve(st)));
  });
}

/** One pread(2): up to `length` bytes at `position` into `buf` at `offset`; 0 at EOF. */
export function readAt(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.close(fd, (err) => (err ? reject(err) : resolve()));
  });
}

export function readlinkBuf(path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    fs.readlink(path, { encoding: 'buffer' }, (err, target) => (err ? reject(err) : resolve(target)));
  });
}

// Synchronous versions, for the fast path on a warm page cache (why: pacer.ts).

export function lstatBigSync(path: string): BigIntStats {
  return fs.lstatSync(path, { bigint: true });
}

export function openForReadSync(path: string): number {
  return fs.openSync(path, OPEN_FLAGS);
}

export function fstatBigSync(fd: number): BigIntStats {
  return fs.fstatSync(fd, { bigint: true });
}

export function readAtSync(fd: number, buf: Buffer, offset: number, length: number, position: number): number {
  return fs.readSync(fd, buf, offset, length, position);
}

export function closeFdSync(fd: number): void {
  fs.closeSync(fd);
}
