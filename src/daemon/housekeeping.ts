// Pruning of quarantine/ and shipped/, at most once per quarantine.cleanup_interval_s. The
// time of the last run is kept in state/cleanup.json so that restarts and crash loops do
// not rescan the trees. Age:
//   quarantine/<x>  from quarantined_at in its reason file (the folder's mtime if none)
//   shipped/<x>     from the folder's ctime, which rename(2) sets when the episode retires
// keep_days = 0 keeps for ever. Each removal is logged with id, age and reason, and counts as
// progress for the watchdog (a first prune of a year of shipped episodes may take minutes).

import { lstat, readdir } from 'node:fs/promises';
import type { Config } from '../config/schema.js';
import { errorFields, type Logger } from '../log/logger.js';
import { joinBuf, removeTree } from '../queue/atomic.js';
import { printable } from '../queue/layout.js';
import { readReason } from '../queue/quarantine.js';
import { STATE_FILES, readState, writeState, type CleanupState } from '../queue/state.js';

const DAY_MS = 86_400_000;

export interface PruneReport {
  ran: boolean;
  quarantineRemoved: number;
  shippedRemoved: number;
}

export interface HousekeepingOptions {
  /** Run whatever the gate says. */
  force?: boolean;
  /** Called after every folder looked at or removed (the daemon's watchdog). */
  onProgress?: () => void;
}

async function prune(dir: string, keepDays: number, now: number, log: Logger, kind: 'quarantine' | 'shipped', onProgress: () => void): Promise<number> {
  if (keepDays <= 0) return 0;
  let removed = 0;
  const names = (await readdir(dir, { encoding: 'buffer' })) as Buffer[];
  for (const name of names) {
    onProgress();
    if (name[0] === 0x2e) continue;
    const path = joinBuf(dir, name);
    let st;
    try {
      st = await lstat(path);
    } catch {
      continue;
    }
    if (!st.isDirectory()) continue;
    let since = kind === 'shipped' ? st.ctimeMs : st.mtimeMs;
    let reason: string | undefined;
    if (kind === 'quarantine') {
      const r = await readReason(path);
      if (r) {
        const t = Date.parse(r.quarantined_at);
        if (!Number.isNaN(t)) since = t;
        reason = r.reason;
      }
    }
    const ageDays = (now - since) / DAY_MS;
    if (ageDays <= keepDays) continue;
    try {
      await removeTree(dir, name);
      removed++;
      log.info(kind === 'quarantine' ? 'quarantine_pruned' : 'shipped_pruned', { episode: printable(name), age_days: ageDays.toFixed(1), reason });
    } catch (err) {
      log.error('prune_failed', { episode: printable(name), ...errorFields(err) });
    }
  }
  return removed;
}

/** Prune when the gate allows it; `now` is epoch ms. */
export async function housekeeping(config: Config, now: number, log: Logger, options: HousekeepingOptions = {}): Promise<PruneReport> {
  const force = options.force ?? false;
  const onProgress = options.onProgress ?? (() => {});
  const state = config.paths.state;
  const last = (await readState<CleanupState>(state, STATE_FILES.cleanup))?.last_run_at ?? 0;
  // A clock that jumped backwards must not block cleanup for ever.
  const due = force || last > now || now - last >= config.quarantine.cleanupIntervalMs;
  if (!due) return { ran: false, quarantineRemoved: 0, shippedRemoved: 0 };
  // Write the gate first: a crash loop in the middle of a prune must not rescan every start.
  await writeState(state, STATE_FILES.cleanup, { last_run_at: now } satisfies CleanupState);
  const quarantineRemoved = await prune(config.paths.quarantine, config.quarantine.keepDays, now, log, 'quarantine', onProgress);
  const shippedRemoved = await prune(config.paths.shipped, config.shipped.keepDays, now, log, 'shipped', onProgress);
  if (quarantineRemoved + shippedRemoved > 0) log.info('housekeeping', { quarantine_removed: quarantineRemoved, shipped_removed: shippedRemoved });
  return { ran: true, quarantineRemoved, shippedRemoved };
}
