// `shipper quarantine-unstamped [--dry-run]`: a one-shot drain of episodes/ for a receiver
// that now requires a code version. Every episode folder whose meta.json lacks a 40-hex
// `code_version.commit` goes to quarantine/ with reason `unstamped` (the usual crash-safe
// quarantine move, suffixed `~N` on a clash). A folder without meta.json counts only once
// its own mtime is older than ship.settle_s: a recorder may still be writing it. Skipped:
// dot-names, names that are not ids, meta.json that is not valid JSON (the daemon
// quarantines those as invalid_meta), and a quarantine cut short (recovery finishes it).
//
// Idempotent, and safe while the daemon runs: the moves happen under the pass lock, which
// it announces so that the daemon lets it go first. `--dry-run` takes no lock and moves
// nothing: it lists what a real run would move now.

import { chown, lstat, readFile, readdir, stat } from 'node:fs/promises';
import { configPath, loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { plural } from '../doctor/format.js';
import { ExitCodes, errnoOf, fsError } from '../errors.js';
import { joinBuf } from '../queue/atomic.js';
import { prepareFolders } from '../queue/folders.js';
import { REASON_FILE, idOf } from '../queue/layout.js';
import { lockPass } from '../queue/lock.js';
import { makeReason, quarantineEpisode } from '../queue/quarantine.js';
import { judgeMeta } from '../queue/scan.js';
import type { Args } from './args.js';
import type { Io } from './io.js';

export interface Unstamped {
  id: string;
  name: Buffer;
  detail: string;
}

export interface Survey {
  unstamped: Unstamped[];
  stamped: number;
  /** No meta.json and changed less than settle_s ago. */
  tooYoung: number;
  invalidMeta: number;
  notIds: number;
}

async function readMeta(dir: Buffer): Promise<string | null> {
  try {
    return await readFile(Buffer.concat([dir, Buffer.from('/meta.json')]), 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    throw fsError(`read ${dir.toString()}/meta.json`, err);
  }
}

/** Which folders of episodes/ are unstamped at `now` (epoch ms). Read-only. */
export async function survey(config: Config, now: number): Promise<Survey> {
  const dir = config.paths.episodes;
  const entries = await readdir(dir, { withFileTypes: true, encoding: 'buffer' }).catch((err: unknown) => {
    throw fsError(`read ${dir}`, err);
  });
  const out: Survey = { unstamped: [], stamped: 0, tooYoung: 0, invalidMeta: 0, notIds: 0 };
  for (const e of entries) {
    const name = e.name as unknown as Buffer;
    if (name[0] === 0x2e || !e.isDirectory()) continue;
    const id = idOf(name);
    if (id === null) {
      out.notIds++;
      continue;
    }
    const folder = joinBuf(dir, name);
    if (await lstat(Buffer.concat([folder, Buffer.from('/' + REASON_FILE)])).then(() => true, () => false)) continue;
    const text = await readMeta(folder);
    if (text === null) {
      const st = await stat(folder).catch(() => null);
      if (!st) continue; // gone meanwhile (the daemon shipped it)
      if (now - st.mtimeMs < config.ship.settleMs) {
        out.tooYoung++;
        continue;
      }
      out.unstamped.push({ id, name, detail: 'no meta.json (quarantine-unstamped)' });
      continue;
    }
    const v = judgeMeta(text);
    if (!v.ok) out.invalidMeta++;
    else if (v.commit === null) out.unstamped.push({ id, name, detail: 'meta.json has no 40-hex code_version.commit (quarantine-unstamped)' });
    else out.stamped++;
  }
  out.unstamped.sort((a, b) => Buffer.compare(a.name, b.name));
  return out;
}

function notes(s: Survey): string[] {
  const lines: string[] = [];
  if (s.tooYoung > 0) lines.push(`left ${plural(s.tooYoung, 'folder')} without meta.json that changed less than ship.settle_s ago (a recorder may still be writing)`);
  if (s.invalidMeta > 0) lines.push(`left ${plural(s.invalidMeta, 'folder')} whose meta.json is not valid JSON (the daemon quarantines those as invalid_meta)`);
  if (s.notIds > 0) lines.push(`left ${plural(s.notIds, 'folder')} whose ${s.notIds === 1 ? 'name is' : 'names are'} not an episode id (the daemon quarantines those as invalid_episode_id)`);
  return lines;
}

export async function unstampedMode(args: Args, io: Io, now: () => number = Date.now): Promise<number> {
  const config = await loadConfigFile(configPath(args.config, io.env), io.env);
  const { missing } = await prepareFolders(config, { create: false });
  if (missing.length > 0) {
    io.out(`nothing to do: ${missing.join(', ')} does not exist yet (the daemon creates the folders at start)`);
    return ExitCodes.OK;
  }
  if (args.dryRun) {
    const s = await survey(config, now());
    for (const u of s.unstamped) io.out(`would quarantine ${u.id}: ${u.detail}`);
    io.out(`would quarantine ${plural(s.unstamped.length, 'episode')} (dry run: nothing moved); ${s.stamped} stamped`);
    for (const n of notes(s)) io.out(n);
    return ExitCodes.OK;
  }

  const lock = await lockPass(config.paths.state, 'quarantine-unstamped', {
    signal: io.signal,
    announce: true,
    onWait: (h) => io.err(`waiting for the daemon's pass to finish (pid ${h.pid || '?'})…`),
  });
  let moved = 0;
  let s: Survey;
  try {
    // Surveyed under the lock: the daemon may have shipped or quarantined some meanwhile.
    s = await survey(config, now());
    for (const u of s.unstamped) {
      if (io.signal.aborted) break;
      const reason = makeReason(u.name, config.hostId, { reason: 'unstamped', detail: u.detail }, new Date(now()));
      const got = await quarantineEpisode(config.paths, u.name, reason);
      await giveReasonToOwner(config, got);
      moved++;
      const as = got.toString('latin1') !== u.id ? ` (as ${got.toString('latin1')})` : '';
      io.out(`quarantined ${u.id}${as}: ${u.detail}`);
    }
  } finally {
    await lock.release();
  }
  io.out(`quarantined ${plural(moved, 'episode')}; ${s.stamped} stamped`);
  for (const n of notes(s)) io.out(n);
  return ExitCodes.OK;
}

/**
 * Run as root, the reason file would be root's and unreadable to the daemon's user (whose
 * housekeeping reads it for the age): hand it to the owner of the episode folder.
 */
async function giveReasonToOwner(config: Config, got: Buffer): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const folder = joinBuf(config.paths.quarantine, got);
  const st = await stat(folder).catch(() => null);
  if (!st || st.uid === 0) return;
  await chown(Buffer.concat([folder, Buffer.from('/' + REASON_FILE)]), st.uid, st.gid).catch(() => {});
}
