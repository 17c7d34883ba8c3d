// `shipper requeue ID... | --all [--reason R] [--status CODE]`: quarantined episodes go
// back to episodes/ (under their id, any `~N` suffix stripped), for when the receiver side
// was fixed. Under the pass lock (announced, so the daemon lets us go first between two
// passes), each move is crash-safe in three durable steps:
//
//   1. rename quarantine/X -> quarantine/.requeue-X, fsync quarantine/
//   2. unlink .requeue-X/quarantine_reason.json, fsync .requeue-X/
//   3. rename quarantine/.requeue-X -> episodes/<id>, fsync episodes/ and quarantine/
//
// A crash after step 1 leaves `.requeue-X`, which recovery (every start and `--once`)
// finishes, and which `requeue X` finishes too. Per id it refuses, and goes on with the
// others: a name that is not an id, an id already in episodes/, a name not in quarantine/.
// Exit 0 when everything asked for moved, 1 when something was refused, 78 for the config.

import { readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { configPath, loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { ErrorCodes, ExitCodes, ShipperError, errnoOf, fsError } from '../errors.js';
import { exists, fsyncDir, stripSuffix } from '../queue/atomic.js';
import { prepareFolders } from '../queue/folders.js';
import { REASON_FILE, REQUEUE_PREFIX, isValidId, printable } from '../queue/layout.js';
import { lockPass } from '../queue/lock.js';
import { REASONS, readReason, type ReasonFile } from '../queue/quarantine.js';
import type { Args } from './args.js';
import type { Io } from './io.js';

export interface Candidate {
  /** The name in quarantine/ (without the `.requeue-` prefix of a move cut short). */
  name: string;
  /** The move was cut short after step 1: the folder is `quarantine/.requeue-<name>`. */
  resumed: boolean;
}

/** Exit code when at least one id was refused (the others still moved). */
export const SOME_REFUSED = 1;

type Outcome = { moved: true; id: string; reason: ReasonFile | null } | { moved: false; why: string };

/** Folders that share the id's alphabet plus `~N`; anything else in quarantine/ is not ours to name. */
function printableName(b: Buffer): string | null {
  const s = b.toString('utf8');
  return Buffer.from(s, 'utf8').equals(b) ? s : null;
}

async function quarantineNames(config: Config): Promise<{ names: string[]; resumed: string[]; unnamed: number }> {
  const all = (await readdir(config.paths.quarantine, { encoding: 'buffer' }).catch((err: unknown) => {
    throw fsError(`read ${config.paths.quarantine}`, err);
  })) as Buffer[];
  const names: string[] = [];
  const resumed: string[] = [];
  let unnamed = 0;
  for (const b of all) {
    const s = printableName(b);
    if (s === null) {
      unnamed++;
      continue;
    }
    if (s.startsWith(REQUEUE_PREFIX)) resumed.push(s.slice(REQUEUE_PREFIX.length));
    else if (!s.startsWith('.')) names.push(s);
  }
  return { names: names.sort(), resumed: resumed.sort(), unnamed };
}

/** What the operator typed, as a name in quarantine/: `ep-1`, `ep-1/`, `quarantine/ep-1`. */
export function nameFromArg(arg: string, quarantineDir: string): string {
  const trimmed = arg.replace(/\/+$/, '');
  if (!trimmed.includes('/')) return trimmed;
  const dir = dirname(trimmed);
  if (resolve(dir) === resolve(quarantineDir) || dir === 'quarantine') return basename(trimmed);
  return trimmed; // refused below as "not in quarantine"
}

async function requeueOne(config: Config, c: Candidate): Promise<Outcome> {
  const q = config.paths.quarantine;
  const id = stripSuffix(c.name);
  // A name with a slash, `.` or `..` never names a folder inside quarantine/.
  const plain = c.name !== '' && c.name !== '.' && c.name !== '..' && !c.name.includes('/');
  if (!plain || (!c.resumed && !(await exists(`${q}/${c.name}`)))) return { moved: false, why: `not in ${q}` };
  if (!isValidId(id)) {
    return { moved: false, why: `${JSON.stringify(c.name)} is not an episode id ([A-Za-z0-9][A-Za-z0-9._-]{0,127}); rename the folder in ${q} to a valid id first, then requeue it under that name` };
  }
  const hidden = `${q}/${REQUEUE_PREFIX}${c.name}`;
  const target = `${config.paths.episodes}/${id}`;
  if (await exists(target)) {
    const also = c.resumed ? ` (the folder waits as ${hidden})` : '';
    return { moved: false, why: `${target} already exists${also}; let that one ship (or move it away) and requeue ${c.name} again` };
  }
  let reason: ReasonFile | null;
  try {
    if (!c.resumed) {
      if (await exists(hidden)) return { moved: false, why: `${hidden} exists (a requeue cut short); run shipper requeue ${c.name} again once that one is home` };
      const st = await stat(`${q}/${c.name}`).catch((err: unknown) => {
        if (errnoOf(err) === 'ENOENT') return null;
        throw err;
      });
      if (!st) return { moved: false, why: `not in ${q}` };
      if (!st.isDirectory()) return { moved: false, why: `${q}/${c.name} is not a folder` };
      await rename(`${q}/${c.name}`, hidden);
      await fsyncDir(q);
    }
    reason = await readReason(hidden);
    // Only our own reason file goes; a recorder's file of that name stays with its episode.
    if (reason) {
      await rm(`${hidden}/${REASON_FILE}`, { force: true });
      await fsyncDir(hidden);
    }
    await rename(hidden, target);
    await fsyncDir(config.paths.episodes);
    await fsyncDir(q);
  } catch (err) {
    throw fsError(`requeue ${c.name}`, err);
  }
  return { moved: true, id, reason };
}

function describeReason(r: ReasonFile | null): string {
  if (!r) return 'no reason file';
  return r.http_status !== null ? `${r.reason} ${r.http_status}` : r.reason;
}

function matches(r: ReasonFile | null, reason: string | undefined, status: number | undefined): boolean {
  if (reason !== undefined && r?.reason !== reason) return false;
  if (status !== undefined && r?.http_status !== status) return false;
  return true;
}

export async function requeueMode(args: Args, io: Io): Promise<number> {
  if (args.reason !== undefined && !(REASONS as readonly string[]).includes(args.reason)) {
    throw new ShipperError(ErrorCodes.USAGE, `--reason ${JSON.stringify(args.reason)} is not a quarantine reason; use one of ${REASONS.join(', ')}`);
  }
  const config = await loadConfigFile(configPath(args.config, io.env), io.env);
  const { missing } = await prepareFolders(config, { create: false });
  if (missing.length > 0) {
    io.out(`nothing to requeue: ${missing.join(', ')} does not exist yet (the daemon creates the folders at start)`);
    return ExitCodes.OK;
  }
  const lock = await lockPass(config.paths.state, 'requeue', {
    signal: io.signal,
    announce: true,
    onWait: (h) => io.err(`waiting for the daemon's pass to finish (pid ${h.pid || '?'})…`),
  });
  let moved = 0;
  let refused = 0;
  try {
    const listing = await quarantineNames(config);
    const candidates: Candidate[] = [];
    if (args.all) {
      let skipped = 0;
      for (const name of listing.resumed) candidates.push({ name, resumed: true });
      for (const name of listing.names) {
        if (!isValidId(stripSuffix(name))) {
          skipped++;
          continue;
        }
        if (args.reason !== undefined || args.status !== undefined) {
          if (!matches(await readReason(`${config.paths.quarantine}/${name}`), args.reason, args.status)) continue;
        }
        candidates.push({ name, resumed: false });
      }
      if (skipped + listing.unnamed > 0) {
        io.err(`skipped ${skipped + listing.unnamed} folder(s) whose names are not episode ids; rename them to a valid id first, then requeue them by name`);
      }
    } else {
      for (const arg of args.ids) {
        const name = nameFromArg(arg, config.paths.quarantine);
        // A move cut short is finished first; the same name in quarantine/ then meets its id in episodes/.
        if (listing.resumed.includes(name)) candidates.push({ name, resumed: true });
        if (listing.names.includes(name) || !listing.resumed.includes(name)) candidates.push({ name, resumed: false });
      }
    }
    if (candidates.length === 0) {
      io.out(args.reason !== undefined || args.status !== undefined ? 'nothing in quarantine matches' : 'nothing in quarantine to requeue');
      return ExitCodes.OK;
    }
    for (const c of candidates) {
      if (io.signal.aborted) break;
      const r = await requeueOne(config, c);
      if (r.moved) {
        moved++;
        const as = r.id !== c.name ? ` as ${r.id}` : '';
        io.out(`requeued ${printable(c.name)}${as} (was ${describeReason(r.reason)}${c.resumed ? '; finished a requeue cut short' : ''})`);
      } else {
        refused++;
        io.err(`refused ${c.name}: ${r.why}`);
      }
    }
  } finally {
    await lock.release();
  }
  io.out(`requeued ${moved}, refused ${refused}`);
  return refused > 0 ? SOME_REFUSED : ExitCodes.OK;
}
