// The receiver's storage: `<store>/<host_id>/<id>.tar.zst`, written only by link(2) of a
// complete, fsynced temp file from the same folder, so a final name never holds a partial
// upload and is never overwritten:
//
//   <store>/<host_id>/.tmp-<id>.<random>   an upload in progress (deleted on any failure)
//   <store>/<host_id>/<id>.tar.zst         a stored episode, immutable
//
// `commit` links the temp file to the final name (EEXIST if another upload got there
// first), fsyncs the folder and removes the temp. When the name exists, the stored bytes
// decide: same sha-256 → identical (an idempotent re-ship), else conflict. Commits of one
// id are serialised, so concurrent PUTs of it cannot race. Start-up deletes leftover temp
// files: one receiver process owns a store.

import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { link, mkdir, open, readdir, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf } from '../errors.js';
import { threadHasher } from './hasher.js';

export type CommitOutcome = 'created' | 'identical' | 'conflict';

export interface TempFile {
  readonly path: string;
  /** Created exclusively; fsyncs before it closes ('close' = durable). */
  readonly stream: WriteStream;
}

const WRITE_BUFFER = 4 * 1024 * 1024;

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The sha-256 of a stored episode, hashed off the main thread (it may be gigabytes). */
async function sha256Of(path: string): Promise<Buffer> {
  const hasher = threadHasher(['sha-256']);
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) {
      hasher.update(chunk as Buffer);
      await hasher.ready();
    }
    return (await hasher.digest()).get('sha-256')!;
  } finally {
    hasher.destroy();
  }
}

export class EpisodeStore {
  readonly root: string;
  #locks = new Map<string, Promise<unknown>>();

  constructor(root: string) {
    this.root = root;
  }

  /** Create the store folder if needed and delete temp files a previous run left. */
  async init(): Promise<{ removedTemps: number }> {
    await mkdir(this.root, { recursive: true });
    let removedTemps = 0;
    for (const host of await readdir(this.root, { withFileTypes: true })) {
      if (!host.isDirectory() || host.name.startsWith('.')) continue;
      const dir = join(this.root, host.name);
      for (const name of await readdir(dir)) {
        if (!name.startsWith('.tmp-')) continue;
        await rm(join(dir, name), { force: true });
        removedTemps++;
      }
    }
    return { removedTemps };
  }

  finalPath(hostId: string, id: string): string {
    return join(this.root, hostId, `${id}.tar.zst`);
  }

  /** A new, empty temp file for an upload of `id` from `hostId`. */
  async createTemp(hostId: string, id: string): Promise<TempFile> {
    const dir = join(this.root, hostId);
    const created = await mkdir(dir, { recursive: true });
    if (created !== undefined) await fsyncDir(this.root);
    const path = join(dir, `.tmp-${id}.${randomBytes(6).toString('hex')}`);
    const stream = createWriteStream(path, { flags: 'wx', mode: 0o644, highWaterMark: WRITE_BUFFER, flush: true });
    await new Promise<void>((resolve, reject) => {
      stream.once('ready', resolve);
      stream.once('error', reject);
    });
    return { path, stream };
  }

  /** Remove a temp file (after a failure); never throws. */
  async discard(temp: TempFile): Promise<void> {
    if (!temp.stream.closed) {
      await new Promise<void>((resolve) => {
        temp.stream.once('close', resolve);
        temp.stream.destroy();
      });
    }
    await unlink(temp.path).catch(() => {});
  }

  /** Make a complete temp file (its stream closed, so fsynced) the episode, or compare with it. */
  async commit(temp: TempFile, hostId: string, id: string, sha256: Buffer, bytes: number): Promise<CommitOutcome> {
    const key = `${hostId}/${id}`;
    const prev = this.#locks.get(key) ?? Promise.resolve();
    const run = prev.then(() => this.#commit(temp, hostId, id, sha256, bytes));
    const tail = run.catch(() => {});
    this.#locks.set(key, tail);
    void tail.then(() => {
      if (this.#locks.get(key) === tail) this.#locks.delete(key);
    });
    return run;
  }

  async #commit(temp: TempFile, hostId: string, id: string, sha256: Buffer, bytes: number): Promise<CommitOutcome> {
    const final = this.finalPath(hostId, id);
    try {
      await link(temp.path, final);
      await fsyncDir(join(this.root, hostId));
      return 'created';
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
      const st = await stat(final);
      if (st.size !== bytes) return 'conflict';
      return (await sha256Of(final)).equals(sha256) ? 'identical' : 'conflict';
    } finally {
      await unlink(temp.path).catch(() => {});
    }
  }
}
