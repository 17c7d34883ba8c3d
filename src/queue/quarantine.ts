// Quarantine: an episode rejected for good moves to quarantine/ with quarantine_reason.json
// beside its files. The reason is written INTO the episode folder before the folder moves,
// so a reason is never separated from its files, and a crash between the two steps is
// finished by recovery (an episode in episodes/ that carries a reason file).

import { open, readFile, rename } from 'node:fs/promises';
import { BODY_KEEP_BYTES, utf8Prefix } from '../transport/answer.js';
import { fsError } from '../errors.js';
import type { Paths } from '../config/schema.js';
import { VERSION } from '../version.js';
import { fsyncDir, joinBuf, moveInto, tmpName, unlinkIfExists } from './atomic.js';
import { REASON_FILE, archivePath, idOf, printable, sidecarPath } from './layout.js';

export const REASONS = ['receiver_rejected', 'invalid_meta', 'invalid_episode_id', 'unstamped', 'too_large', 'unreadable'] as const;
export type Reason = (typeof REASONS)[number];

export interface ReasonFile {
  episode_id: string;
  host_id: string;
  quarantined_at: string;
  reason: Reason;
  http_status: number | null;
  receiver_body: string | null;
  archive_sha256: string | null;
  archive_bytes: number | null;
  shipper_version: string;
  /** What exactly was wrong, for the operator (a path, a parse error). */
  detail: string | null;
}

export interface ReasonInput {
  reason: Reason;
  httpStatus?: number | null;
  receiverBody?: string | null;
  archiveSha256?: string | null;
  archiveBytes?: number | null;
  detail?: string | null;
}

export function makeReason(name: Buffer, hostId: string, input: ReasonInput, now: Date): ReasonFile {
  const body = input.receiverBody ?? null;
  return {
    episode_id: printable(name),
    host_id: hostId,
    quarantined_at: now.toISOString(),
    reason: input.reason,
    http_status: input.httpStatus ?? null,
    receiver_body: body === null ? null : utf8Prefix(body, BODY_KEEP_BYTES),
    archive_sha256: input.archiveSha256 ?? null,
    archive_bytes: input.archiveBytes ?? null,
    shipper_version: VERSION,
    detail: input.detail === undefined || input.detail === null ? null : input.detail.slice(0, 1000),
  };
}

/** True when `data` is a reason file this shipper wrote (not a recorder's file of that name). */
export function isOurReason(data: unknown): data is ReasonFile {
  if (!data || typeof data !== 'object') return false;
  const r = data as Partial<ReasonFile>;
  return typeof r.reason === 'string' && (REASONS as readonly string[]).includes(r.reason) && typeof r.quarantined_at === 'string' && typeof r.shipper_version === 'string';
}

export async function readReason(folder: Buffer | string): Promise<ReasonFile | null> {
  const path = Buffer.isBuffer(folder) ? Buffer.concat([folder, Buffer.from('/' + REASON_FILE)]) : `${folder}/${REASON_FILE}`;
  try {
    const data: unknown = JSON.parse(await readFile(path, 'utf8'));
    return isOurReason(data) ? data : null;
  } catch {
    return null;
  }
}

/** Write the reason file into `episodes/<name>/` (temp in state/, fsync, rename, fsync). */
export async function writeReason(paths: Paths, name: Buffer, reason: ReasonFile): Promise<void> {
  const dir = joinBuf(paths.episodes, name);
  const target = Buffer.concat([dir, Buffer.from('/' + REASON_FILE)]);
  const tmp = tmpName(paths.state, 'reason');
  try {
    const fh = await open(tmp, 'wx', 0o640);
    try {
      await fh.writeFile(JSON.stringify(reason, null, 2) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (err) {
    await unlinkIfExists(tmp).catch(() => {});
    throw fsError(`write the quarantine reason of ${printable(name)}`, err);
  }
  await fsyncDir(dir);
  await fsyncDir(paths.state);
}

/** Drop the outbox archive and sidecar of `name`, if it is an id and has them. */
export async function dropArchive(paths: Paths, name: Buffer | string): Promise<void> {
  const id = idOf(name);
  if (id === null) return;
  const a = await unlinkIfExists(archivePath(paths, id));
  const s = await unlinkIfExists(sidecarPath(paths, id));
  if (a || s) await fsyncDir(paths.outbox);
}

/**
 * Move `episodes/<name>` to quarantine with its reason. Returns the name it got there
 * (suffixed `~N` when the name was taken).
 */
export async function quarantineEpisode(paths: Paths, name: Buffer, reason: ReasonFile): Promise<Buffer> {
  await writeReason(paths, name, reason);
  return finishQuarantine(paths, name);
}

/** The second half of quarantineEpisode: the reason is in place, move the folder. */
export async function finishQuarantine(paths: Paths, name: Buffer): Promise<Buffer> {
  const got = await moveInto(paths.episodes, name, paths.quarantine);
  await dropArchive(paths, name);
  return got;
}
