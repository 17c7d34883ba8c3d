// outbox/: one complete archive per episode that is being shipped, with its sidecar. The
// archive only ever appears under its final name by rename, after an fsync, and after its
// sidecar; so a final name always means a complete archive whose digest is known without
// reading it again.

import { readFile, rename, stat } from 'node:fs/promises';
import type { Paths } from '../config/schema.js';
import { fsError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type * as Packer from '../pack/index.js';
import { VERSION } from '../version.js';
import { fsyncDir, tmpName, unlinkIfExists, writeFileAtomic } from './atomic.js';
import { archivePath, episodeDir, sidecarPath, type Sidecar } from './layout.js';

// The packer (tar-stream, the zstd binding) is loaded by the first pack, not at start-up:
// a daemon with nothing to ship reaches READY=1 without paying for it.
let packer: Promise<typeof Packer> | undefined;
const loadPacker = (): Promise<typeof Packer> => (packer ??= import('../pack/index.js'));

// Uncompressed tar bytes per zstd frame. 1 MiB rather than the packer's 4 MiB default,
// measured on JSON-lines telemetry at level 3 (bench/, docs/performance.md): the peak RSS
// of shipping a 1 GB episode drops by about 15 MiB (fewer and smaller frame buffers in
// flight, smaller zstd contexts), the archive comes out ~1 % smaller (level 3's parameters
// for a 1 MiB input suit this data better), and compression is no slower.
export const FRAME_BYTES = 1024 * 1024;

export interface Archive {
  readonly id: string;
  readonly path: string;
  readonly bytes: number;
  readonly sha256: Buffer;
  readonly inputBytes: number;
  readonly reused: boolean;
}

export interface PrepareOptions {
  paths: Paths;
  id: string;
  level: number;
  maxInputBytes: number;
  signal?: AbortSignal;
  onProgress?: (inputBytes: number) => void;
  log: Logger;
}

async function readSidecar(paths: Paths, id: string): Promise<Sidecar | null> {
  try {
    const s = JSON.parse(await readFile(sidecarPath(paths, id), 'utf8')) as Sidecar;
    if (s.id !== id || typeof s.sha256 !== 'string' || typeof s.bytes !== 'number' || typeof s.fingerprint !== 'string') return null;
    const st = await stat(archivePath(paths, id));
    return st.size === s.bytes ? s : null;
  } catch {
    return null;
  }
}

/** Remove the archive and sidecar of `id` (both, whichever exist). */
export async function dropPair(paths: Paths, id: string): Promise<void> {
  const a = await unlinkIfExists(archivePath(paths, id));
  const s = await unlinkIfExists(sidecarPath(paths, id));
  if (a || s) await fsyncDir(paths.outbox);
}

/**
 * The archive of episode `id`: the one an interrupted run left in outbox/ when the episode
 * has not changed since (same fingerprint), else a fresh pack. Pack errors (changed,
 * unreadable, too large, disk full) propagate as ShipperErrors with nothing left behind.
 */
export async function prepareArchive(o: PrepareOptions): Promise<Archive> {
  const { paths, id } = o;
  const dir = episodeDir(paths, id);
  const old = await readSidecar(paths, id);
  if (old) {
    const fp = await (await loadPacker()).fingerprintEpisode(dir, o.signal);
    if (fp === old.fingerprint) {
      o.log.info('archive_reused', { episode: id, bytes: old.bytes });
      return { id, path: archivePath(paths, id), bytes: old.bytes, sha256: Buffer.from(old.sha256, 'hex'), inputBytes: old.input_bytes, reused: true };
    }
    o.log.notice('archive_stale', { episode: id, why: 'the episode changed since it was packed; packing it again' });
  }
  await dropPair(paths, id);

  const tmp = tmpName(paths.outbox, id);
  const started = performance.now();
  const res = await (await loadPacker()).packEpisode({
    episodeDir: dir,
    id,
    out: tmp,
    level: o.level,
    frameBytes: FRAME_BYTES,
    maxInputBytes: o.maxInputBytes,
    log: o.log,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  const sidecar: Sidecar = {
    id,
    sha256: res.sha256.toString('hex'),
    bytes: res.bytes,
    fingerprint: res.fingerprint,
    input_bytes: res.inputBytes,
    zstd_level: o.level,
    packed_at: new Date().toISOString(),
    shipper_version: VERSION,
  };
  try {
    // Sidecar first, archive last: the archive's final name is the commit point.
    await writeFileAtomic(sidecarPath(paths, id), JSON.stringify(sidecar) + '\n');
    await rename(tmp, archivePath(paths, id));
    await fsyncDir(paths.outbox);
  } catch (err) {
    await unlinkIfExists(tmp).catch(() => {});
    await dropPair(paths, id).catch(() => {});
    throw fsError(`outbox: store the archive of ${id}`, err);
  }
  o.log.debug('packed', { episode: id, input_bytes: res.inputBytes, bytes: res.bytes, ms: Math.round(performance.now() - started) });
  return { id, path: archivePath(paths, id), bytes: res.bytes, sha256: res.sha256, inputBytes: res.inputBytes, reused: false };
}
