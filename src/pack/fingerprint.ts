// The episode fingerprint: a sha-256 over what lstat says about every archived entry, in
// archive order. The queue stores it beside an archive and compares it with a fresh,
// cheap, lstat-only walk before reusing that archive after a restart: a file touched,
// replaced, added or removed since the pack changes it. It does not cover file contents
// (that is what mtime and size stand in for) nor the pack settings (level, frame size).
//
// One record per entry: `rel \0 kind \0 mode \0 size \0 mtimeNs \0 ino \n`, with `rel` ''
// for the folder itself, `mode` the permission bits in octal and the numbers in decimal.
// A name can hold neither NUL nor, being valid UTF-8 after the walk's check, anything that
// would make two different trees hash the same sequence of records.

import { createHash, type Hash } from 'node:crypto';
import { isArchived, walkEpisode, type WalkEntry } from './walk.js';

export class Fingerprint {
  #hash: Hash = createHash('sha256');

  add(e: WalkEntry): void {
    const size = e.kind === 'file' ? e.st.size : 0n;
    const mode = (e.st.mode & 0o7777n).toString(8);
    this.#hash.update(`${e.rel}\0${e.kind}\0${mode}\0${size}\0${e.st.mtimeNs}\0${e.st.ino}\n`);
  }

  digest(): string {
    return this.#hash.digest('hex');
  }
}

/** Same fingerprint packEpisode would compute, from an lstat-only walk (no file contents read). */
export async function fingerprintEpisode(episodeDir: string, signal?: AbortSignal): Promise<string> {
  const fp = new Fingerprint();
  for await (const e of walkEpisode(episodeDir, signal)) {
    if (isArchived(e.kind)) fp.add(e);
  }
  return fp.digest();
}
