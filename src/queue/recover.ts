// Start-up recovery: finish or undo whatever the last run left in flight, so that every
// episode is in exactly one folder and no temp file remains. Runs under the pass lock at
// every daemon start (before READY=1) and before every `--once`.
//
//   outbox/.tmp-*, state/.tmp-*                 deleted: a write that never finished
//   outbox archive without sidecar (or reverse)  deleted: a pack that never finished
//   outbox archive + sidecar, episode gone       deleted: the episode was retired or
//                                                quarantined after its upload
//   outbox archive + sidecar, episode present    kept; the pass reuses it if the episode's
//                                                fingerprint still matches
//   episodes/<x>/quarantine_reason.json (ours)   the move to quarantine/ is finished
//   quarantine/.requeue-<x>                      the requeue is finished
//   shipped/.deleting-*, quarantine/.deleting-*  the removal is finished

import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Paths } from '../config/schema.js';
import { fsError } from '../errors.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { DELETING_PREFIX, TMP_PREFIX, exists, freeName, fsyncDir, joinBuf, stripSuffix, unlinkIfExists } from './atomic.js';
import { ARCHIVE_SUFFIX, REASON_FILE, REQUEUE_PREFIX, SIDECAR_SUFFIX, idOf, isValidId, printable } from './layout.js';
import { finishQuarantine, readReason } from './quarantine.js';

export interface RecoveryReport {
  tempsRemoved: number;
  archivesDropped: number;
  archivesKept: number;
  quarantinesFinished: number;
  requeuesFinished: number;
  deletionsFinished: number;
}

async function names(dir: string): Promise<Buffer[]> {
  try {
    return (await readdir(dir, { encoding: 'buffer' })) as Buffer[];
  } catch (err) {
    throw fsError(`recovery: read ${dir}`, err);
  }
}

const startsWith = (b: Buffer, prefix: string) => b.subarray(0, prefix.length).toString('latin1') === prefix;

export async function recover(paths: Paths, log: Logger = silentLogger): Promise<RecoveryReport> {
  const r: RecoveryReport = { tempsRemoved: 0, archivesDropped: 0, archivesKept: 0, quarantinesFinished: 0, requeuesFinished: 0, deletionsFinished: 0 };

  // 1. Temp files.
  for (const dir of [paths.outbox, paths.state]) {
    let removed = 0;
    for (const n of await names(dir)) {
      if (startsWith(n, TMP_PREFIX)) {
        await rm(joinBuf(dir, n), { force: true, recursive: true });
        removed++;
      }
    }
    if (removed) await fsyncDir(dir);
    r.tempsRemoved += removed;
  }

  // 2. Reasons written but not moved: finish the quarantine (this also drops the archive).
  for (const n of await names(paths.episodes)) {
    if (n[0] === 0x2e) continue;
    const reason = await readReason(joinBuf(paths.episodes, n));
    if (!reason) continue;
    const got = await finishQuarantine(paths, n);
    log.notice('recovered_quarantine', { episode: printable(n), quarantined_as: printable(got), reason: reason.reason });
    r.quarantinesFinished++;
  }

  // 3. Outbox pairs.
  const archives = new Set<string>();
  const sidecars = new Set<string>();
  for (const n of await names(paths.outbox)) {
    const s = n.toString('latin1');
    if (s.startsWith('.')) continue;
    if (s.endsWith(ARCHIVE_SUFFIX)) archives.add(s.slice(0, -ARCHIVE_SUFFIX.length));
    else if (s.endsWith(SIDECAR_SUFFIX)) sidecars.add(s.slice(0, -SIDECAR_SUFFIX.length));
    else log.warn('outbox_stray', { name: printable(n), fix: 'outbox/ holds only the shipper\'s archives; move it away' });
  }
  let outboxChanged = false;
  for (const id of new Set([...archives, ...sidecars])) {
    if (!isValidId(id)) continue;
    const complete = archives.has(id) && sidecars.has(id);
    const present = await exists(join(paths.episodes, id));
    if (complete && present) {
      r.archivesKept++;
      continue;
    }
    await unlinkIfExists(join(paths.outbox, id + ARCHIVE_SUFFIX));
    await unlinkIfExists(join(paths.outbox, id + SIDECAR_SUFFIX));
    outboxChanged = true;
    r.archivesDropped++;
    log.info('recovered_outbox', { episode: id, action: complete ? 'dropped archive of a retired episode' : 'dropped an unfinished pack' });
  }
  if (outboxChanged) await fsyncDir(paths.outbox);

  // 4. Requeues cut short: the reason may or may not be gone yet; the folder goes home.
  for (const n of await names(paths.quarantine)) {
    if (!startsWith(n, REQUEUE_PREFIX)) continue;
    const original = n.subarray(REQUEUE_PREFIX.length);
    const id = idOf(stripSuffix(original.toString('latin1')));
    const from = joinBuf(paths.quarantine, n);
    if (id !== null && !(await exists(join(paths.episodes, id)))) {
      await rm(Buffer.concat([from, Buffer.from('/' + REASON_FILE)]), { force: true });
      await fsyncDir(from);
      await rename(from, join(paths.episodes, id));
      await fsyncDir(paths.episodes);
      await fsyncDir(paths.quarantine);
      log.notice('recovered_requeue', { episode: id });
    } else {
      // Not an id, or the id is taken in episodes/: back to quarantine under its own name.
      await rename(from, joinBuf(paths.quarantine, await freeName(paths.quarantine, original)));
      await fsyncDir(paths.quarantine);
      log.warn('recovered_requeue_undone', { episode: printable(original), fix: 'run shipper requeue again once episodes/ no longer holds that id' });
    }
    r.requeuesFinished++;
  }

  // 5. Prunes cut short.
  for (const dir of [paths.shipped, paths.quarantine]) {
    for (const n of await names(dir)) {
      if (!startsWith(n, DELETING_PREFIX)) continue;
      await rm(joinBuf(dir, n), { recursive: true, force: true });
      r.deletionsFinished++;
    }
  }
  return r;
}
