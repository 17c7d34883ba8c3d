// A read-only picture of one shipper's folders and state/ files, for `shipper status`, the
// queue line of `shipper doctor`, and people. It takes no lock, writes nothing and needs
// neither the receiver nor the TLS material, so it is safe while the daemon runs. Counts
// are a moment's view: the daemon may move an episode while the snapshot is taken.
//
// The field names are the `--json` contract of `shipper status` (docs/operator-tools.md):
// add fields, never rename or drop one.

import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { configError } from '../config/config-error.js';
import { errnoOf } from '../errors.js';
import { silentLogger } from '../log/logger.js';
import { ARCHIVE_SUFFIX, REQUEUE_PREFIX } from '../queue/layout.js';
import { lockHolder, type HolderInfo } from '../queue/lock.js';
import { readReason } from '../queue/quarantine.js';
import { Scanner, type ScanResult } from '../queue/scan.js';
import { STATE_FILES, readRetry, readState, type LastPass } from '../queue/state.js';
import { VERSION } from '../version.js';

export interface DaemonInfo {
  /** A shipper holds the instance lock (the daemon, or a manual `--once`). */
  running: boolean;
  pid: number | null;
  /** `daemon` or `once`. */
  mode: string | null;
  since: string | null;
  /** How it was seen: the lock socket, or (when that is not visible from here) state/lock and /proc. */
  seen_via: 'lock' | 'lock_file' | null;
}

export interface Snapshot {
  schema: 1;
  taken_at: string;
  shipper_version: string;
  config: string;
  host_id: string;
  daemon: DaemonInfo;
  pending: {
    /** ready + settling + not_ready. */
    total: number;
    /** Marker present and settled: the next pass ships these. */
    ready: number;
    /** Marker present but younger than ship.settle_s. */
    settling: number;
    /** No marker yet (a recorder is still writing). */
    not_ready: number;
    /** Ready ones that wait for their own retry time (state/retry.json). */
    waiting_retry: number;
    /** Folders the next pass quarantines without a round trip, by reason. */
    will_quarantine: number;
    will_quarantine_by_reason: Record<string, number>;
    oldest_ready_id: string | null;
    /** Seconds since the oldest ready episode's marker was written; null when none is ready. */
    oldest_ready_age_s: number | null;
  };
  outbox: { archives: number; bytes: number };
  shipped: number;
  quarantined: {
    total: number;
    by_reason: Record<string, number>;
    /** Receiver rejections by HTTP status (`"412": 3`). */
    by_status: Record<string, number>;
    /** `quarantine/.requeue-*`: a requeue cut short; the next start or `--once` finishes it. */
    requeue_in_progress: number;
  };
  retry: {
    receiver: { failures: number; next_at: string | null; last_class: string | null; last_error: string | null };
    /** The earliest retry among the receiver and the pending episodes, when one is in the future. */
    next_retry_at: string | null;
  };
  last_pass: Omit<LastPass, 'last_success_at' | 'last_error'> | null;
  last_success_at: string | null;
  last_error: LastPass['last_error'];
  /** Data folders that do not exist yet (the daemon creates them at start). */
  folders_missing: string[];
}

async function names(config: Config, key: string, dir: string): Promise<Buffer[] | null> {
  try {
    return (await readdir(dir, { encoding: 'buffer' })) as Buffer[];
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    throw unreadable(config, key, dir, err);
  }
}

function unreadable(config: Config, key: string, dir: string, err: unknown) {
  const errno = errnoOf(err) ?? 'error';
  const fix = errno === 'EACCES' ? 'run as root or as the user the shipper runs as (sudo -u shipper shipper status)' : 'check the folder';
  return configError(config.file, key, `cannot read ${dir} (${errno})`, fix, err);
}

function count(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

/** Who holds the instance lock, falling back to state/lock + /proc when the socket is not visible. */
export async function daemonInfo(stateDir: string): Promise<DaemonInfo> {
  const none: DaemonInfo = { running: false, pid: null, mode: null, since: null, seen_via: null };
  let holder: HolderInfo | null;
  try {
    holder = await lockHolder(stateDir, 'instance');
  } catch {
    return none; // no state/ yet: nothing ever ran here
  }
  if (holder) return { running: true, pid: holder.pid || null, mode: holder.mode, since: holder.since || null, seen_via: 'lock' };
  // The lock is an abstract socket, private to a network namespace: a unit with
  // PrivateNetwork=yes holds it where we cannot see it. state/lock names the holder; trust it
  // only while that pid is alive and is a shipper (a kill -9 leaves the file behind).
  const text = await readFile(join(stateDir, 'lock'), 'utf8').catch(() => '');
  const m = /pid=(\d+) mode=(\S+) since=(\S+)/.exec(text);
  if (!m) return none;
  const pid = Number(m[1]);
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!/shipper/.test(cmdline)) return none;
  return { running: true, pid, mode: m[2]!, since: m[3]!, seen_via: 'lock_file' };
}

async function scanPending(config: Config, now: number): Promise<ScanResult | null> {
  const s = config.ship;
  const scanner = new Scanner({ episodes: config.paths.episodes, readyMarker: s.readyMarker, settleMs: s.settleMs, requireCodeVersion: s.requireCodeVersion }, silentLogger);
  try {
    return await scanner.scan(now);
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    if (errnoOf(cause) === 'ENOENT') return null;
    throw unreadable(config, 'paths.episodes', config.paths.episodes, cause ?? err);
  }
}

/** Look at the folders and state/ of `config` as they are at `now` (epoch ms). */
export async function takeSnapshot(config: Config, now: number = Date.now()): Promise<Snapshot> {
  const p = config.paths;
  const missing: string[] = [];

  const scan = await scanPending(config, now);
  if (!scan) missing.push(p.episodes);
  const retry = await readRetry(p.state);
  const ready = scan?.ready ?? [];
  const byReject: Record<string, number> = {};
  for (const r of scan?.rejects ?? []) count(byReject, r.reason);
  let waitingRetry = 0;
  let nextRetry: number | null = retry.receiver.next_at > now ? retry.receiver.next_at : null;
  for (const e of ready) {
    const r = retry.episodes[e.id];
    if (r && r.next_at > now) {
      waitingRetry++;
      if (nextRetry === null || r.next_at < nextRetry) nextRetry = r.next_at;
    }
  }

  let archives = 0;
  let archiveBytes = 0;
  const outbox = await names(config, 'paths.outbox', p.outbox);
  if (!outbox) missing.push(p.outbox);
  for (const n of outbox ?? []) {
    const s = n.toString('latin1');
    if (s.startsWith('.') || !s.endsWith(ARCHIVE_SUFFIX)) continue;
    archives++;
    archiveBytes += (await stat(join(p.outbox, s)).catch(() => null))?.size ?? 0;
  }

  const shippedNames = await names(config, 'paths.shipped', p.shipped);
  if (!shippedNames) missing.push(p.shipped);

  const byReason: Record<string, number> = {};
  const byStatus: Record<string, number> = {};
  let quarantined = 0;
  let requeues = 0;
  const qNames = await names(config, 'paths.quarantine', p.quarantine);
  if (!qNames) missing.push(p.quarantine);
  for (const n of qNames ?? []) {
    if (n.subarray(0, REQUEUE_PREFIX.length).toString('latin1') === REQUEUE_PREFIX) requeues++;
    if (n[0] === 0x2e) continue;
    quarantined++;
    const reason = await readReason(Buffer.concat([Buffer.from(p.quarantine + '/'), n]));
    count(byReason, reason?.reason ?? 'unknown');
    if (reason?.http_status != null) count(byStatus, String(reason.http_status));
  }

  const last = await readState<LastPass>(p.state, STATE_FILES.lastPass);
  const stateExists = await stat(p.state).then(
    () => true,
    () => false,
  );
  if (!stateExists) missing.push(p.state);

  const oldest = ready[0];
  return {
    schema: 1,
    taken_at: new Date(now).toISOString(),
    shipper_version: VERSION,
    config: config.file,
    host_id: config.hostId,
    daemon: await daemonInfo(p.state),
    pending: {
      total: ready.length + (scan?.unsettled ?? 0) + (scan?.notReady ?? 0),
      ready: ready.length,
      settling: scan?.unsettled ?? 0,
      not_ready: scan?.notReady ?? 0,
      waiting_retry: waitingRetry,
      will_quarantine: scan?.rejects.length ?? 0,
      will_quarantine_by_reason: byReject,
      oldest_ready_id: oldest?.id ?? null,
      oldest_ready_age_s: oldest ? Math.max(0, Math.round((now - oldest.markerMtimeMs) / 1000)) : null,
    },
    outbox: { archives, bytes: archiveBytes },
    shipped: (shippedNames ?? []).filter((n) => n[0] !== 0x2e).length,
    quarantined: { total: quarantined, by_reason: byReason, by_status: byStatus, requeue_in_progress: requeues },
    retry: {
      receiver: {
        failures: retry.receiver.failures,
        next_at: retry.receiver.next_at > 0 ? new Date(retry.receiver.next_at).toISOString() : null,
        last_class: retry.receiver.last_class,
        last_error: retry.receiver.last_error,
      },
      next_retry_at: nextRetry === null ? null : new Date(nextRetry).toISOString(),
    },
    last_pass: last
      ? {
          started_at: last.started_at,
          finished_at: last.finished_at,
          duration_ms: last.duration_ms,
          shipped: last.shipped,
          quarantined: last.quarantined,
          retried: last.retried,
          bytes: last.bytes,
          outcome: last.outcome,
        }
      : null,
    last_success_at: last?.last_success_at ?? null,
    last_error: last?.last_error ?? null,
    folders_missing: missing,
  };
}
