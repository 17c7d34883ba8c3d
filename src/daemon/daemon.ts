// The daemon: recovery, READY=1, then passes for ever. Between passes it sleeps
// `ship.scan_interval_s` — not at all when the last pass moved something, until the
// receiver's backoff runs out when the receiver failed — in slices no longer than the
// watchdog allows, each ending in a ping from this loop (a loop that stops turning stops
// pinging). SIGTERM: STOPPING=1, no new work, the upload in flight gets `graceMs`, then it
// is aborted; every episode stays in a consistent folder; exit 0. SIGHUP: RELOADING=1,
// re-read config, certificates and token, READY=1, at once, even in the middle of a pass; a
// broken config is refused and the old one kept.

import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig, type Loaded } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { ExitCodes } from '../errors.js';
import { errorFields, type Logger } from '../log/logger.js';
import { prepareFolders } from '../queue/folders.js';
import { lockInstance, lockPass, someoneWaits, type HeldLock } from '../queue/lock.js';
import { runPass, type PassReport, type Progress } from '../queue/pass.js';
import { recordPass } from '../queue/record.js';
import { recover } from '../queue/recover.js';
import { backoffMs } from '../queue/backoff.js';
import { RetryBook } from '../queue/retry-book.js';
import { Scanner } from '../queue/scan.js';
import { readRetry } from '../queue/state.js';
import type { Notifier } from '../systemd/notifier.js';
import { WatchdogGate } from '../systemd/watchdog.js';
import { ReceiverClient } from '../transport/client.js';
import { tokenBucket } from '../transport/throttle.js';
import { housekeeping } from './housekeeping.js';
import { StatusLine } from './status-line.js';

export interface DaemonDeps {
  file: string;
  loaded: Loaded;
  log: Logger;
  notifier: Notifier;
  env: NodeJS.ProcessEnv;
  /** Aborted by the first SIGTERM/SIGINT. */
  signal: AbortSignal;
  /** Register the SIGHUP handler. */
  onHangup: (handler: () => void) => void;
  /** How long an upload in flight may go on after SIGTERM. */
  graceMs?: number;
  /** Hook for the metrics file; called after every pass. */
  afterPass?: (config: Config, report: PassReport, gate: WatchdogGate) => Promise<void>;
}

async function countFolders(dir: string): Promise<number> {
  try {
    const names = (await readdir(dir, { encoding: 'buffer' })) as Buffer[];
    return names.filter((n) => n[0] !== 0x2e).length;
  } catch {
    return 0;
  }
}

function scannerFor(config: Config, log: Logger): Scanner {
  const s = config.ship;
  return new Scanner({ episodes: config.paths.episodes, readyMarker: s.readyMarker, settleMs: s.settleMs, requireCodeVersion: s.requireCodeVersion }, log);
}

function samePaths(a: Config, b: Config): boolean {
  return JSON.stringify(a.paths) === JSON.stringify(b.paths);
}

export async function runDaemon(deps: DaemonDeps): Promise<number> {
  const { log, notifier, signal } = deps;
  let { config } = deps.loaded;
  const graceMs = deps.graceMs ?? 5000;

  // SIGHUP: the reload runs at once, beside whatever the loop is doing — a pass in flight
  // keeps the config, client and scanner it started with, the next pass takes the new ones —
  // so READY=1 answers `systemctl reload` within moments even during an hour-long upload
  // (systemd gives a reload TimeoutStartSec). Reloads run one after another, and one that
  // arrives before the first READY=1 waits for it: READY=1 never precedes the recovery.
  // Registered first thing, so that no SIGHUP after the config was read goes unheard.
  let markReady!: () => void;
  const readyOnce = new Promise<void>((resolve) => (markReady = resolve));
  let reloads: Promise<void> = Promise.resolve();
  deps.onHangup(() => {
    log.notice('reload_requested', {});
    reloads = reloads
      .then(() => readyOnce)
      .then(async () => {
        notifier.reloading();
        config = await reload(config);
      })
      .catch((err: unknown) => {
        log.error('reload_failed', { ...errorFields(err), keeping: 'the running configuration' });
        notifier.ready();
      });
  });

  await prepareFolders(config);
  const instance: HeldLock = await lockInstance(config.paths.state, 'daemon');
  const gate = new WatchdogGate(notifier);
  const client = new ReceiverClient({ config, tls: deps.loaded.tls, log, throttle: tokenBucket(config.ship.maxBytesPerS) });
  let scanner = scannerFor(config, log);
  const retry = new RetryBook(await readRetry(config.paths.state), config.retry);
  const status = new StatusLine(notifier);

  // Hard abort for uploads in flight: `graceMs` after the first signal.
  const hard = new AbortController();
  const onStop = () => {
    notifier.stopping();
    status.set('stopping: finishing the upload in flight');
    log.notice('daemon_stopping', { grace_ms: graceMs });
    setTimeout(() => hard.abort(signal.reason), graceMs).unref();
    wake();
  };

  let wakeSleep: (() => void) | null = null;
  const wake = () => wakeSleep?.();
  let passFailures = 0;

  try {
    signal.addEventListener('abort', onStop, { once: true });
    // A tool (requeue, say) may hold the pass lock: wait for it, but a SIGTERM meanwhile is
    // a clean stop before READY=1, not an internal error.
    const first = await lockPass(config.paths.state, 'daemon', { signal }).catch((err: unknown) => {
      if (signal.aborted) return null;
      throw err;
    });
    if (!first) {
      log.notice('daemon_stopped', { before_ready: true });
      return ExitCodes.OK;
    }
    try {
      const rec = await recover(config.paths, log);
      log.info('recovered', { ...rec });
    } finally {
      await first.release();
    }
    status.counts.shipped = await countFolders(config.paths.shipped);
    status.counts.quarantined = await countFolders(config.paths.quarantine);
    notifier.ready();
    markReady();
    log.notice('daemon_ready', { host_id: config.hostId, receiver: config.receiver.url, watchdog_usec: notifier.watchdogUsec ?? undefined, notify: notifier.via });
    status.idle();
    gate.progress();

    const onProgress = (p: Progress) => {
      gate.progress();
      status.progress(p);
    };

    while (!signal.aborted) {
      // A tool (requeue, quarantine-unstamped) waits for the pass lock: let it go first.
      while (!signal.aborted && (await someoneWaits(config.paths.state))) await sliceSleep(100);
      if (signal.aborted) break;
      const lock = await lockPass(config.paths.state, 'daemon', { signal }).catch(() => null);
      if (!lock) break;
      let report: PassReport;
      try {
        try {
          report = await runPass({ config, receiver: client, scanner, retry, log, signal: hard.signal, stop: signal, onProgress }, { ignoreBackoff: false });
        } catch (err) {
          // The pass contains per-episode failures; what reaches here is the folder itself
          // failing (episodes/ unreadable, say). Log it, back off, keep the daemon alive.
          passFailures++;
          const waitMs = backoffMs(config.retry, passFailures);
          log.error('pass_failed', { ...errorFields(err), retry_in_s: Math.round(waitMs / 1000) });
          status.set(`pass failed: ${errorFields(err).error ?? 'error'}; retrying in ${Math.round(waitMs / 1000)} s`);
          await lock.release();
          gate.progress();
          await sliceSleep(waitMs);
          continue;
        }
        passFailures = 0;
        const pruned = await housekeeping(config, Date.now(), log, { onProgress: () => gate.progress() }).catch((err: unknown) => {
          log.error('housekeeping_failed', { ...errorFields(err) });
          return null;
        });
        if (pruned) status.counts.quarantined -= pruned.quarantineRemoved;
        if (pruned) status.counts.shipped -= pruned.shippedRemoved;
      } finally {
        await lock.release().catch(() => {});
      }
      await recordPass(config.paths, report, retry, log);
      status.afterPass(report);
      await deps.afterPass?.(config, report, gate).catch((err: unknown) => log.error('metrics_failed', { ...errorFields(err) }));
      gate.progress();
      if (signal.aborted) break;
      await sliceSleep(sleepAfter(report));
    }
    log.notice('daemon_stopped', {});
    return ExitCodes.OK;
  } finally {
    signal.removeEventListener('abort', onStop);
    await client.close();
    await instance.release();
  }

  /** How long to wait before the next pass (ms). */
  function sleepAfter(report: PassReport): number {
    const now = Date.now();
    if (report.stopped) {
      const until = retry.state.receiver.next_at;
      status.backingOff(report.stopped, until);
      return Math.min(Math.max(0, until - now), config.retry.maxMs);
    }
    if (report.shipped.length + report.quarantined.length > 0) return 0;
    const next = retry.nextDue(
      report.scan.ready.map((e) => e.id),
      now,
    );
    return Math.max(0, Math.min(config.ship.scanIntervalMs, next === null ? Infinity : next - now));
  }

  /** Sleep `ms`, woken by SIGTERM; ping the watchdog at the end of each slice. */
  async function sliceSleep(ms: number): Promise<void> {
    let left = ms;
    while (left > 0 && !signal.aborted) {
      const slice = Math.min(left, gate.enabled ? gate.sliceMs : left);
      const ac = new AbortController();
      wakeSleep = () => ac.abort();
      const t = performance.now();
      await sleep(slice, undefined, { signal: ac.signal }).catch(() => {});
      wakeSleep = null;
      left -= performance.now() - t;
      gate.progress();
    }
  }

  async function reload(old: Config): Promise<Config> {
    let next: Loaded;
    try {
      next = await loadConfig(deps.file, { env: deps.env });
      if (!samePaths(old, next.config)) {
        throw new Error('paths.* changed; a reload keeps the folders it started with: restart the service to move them');
      }
    } catch (err) {
      log.error('reload_refused', { ...errorFields(err), keeping: 'the running configuration' });
      notifier.ready();
      status.note('reload refused (see the journal); running on the old configuration');
      return old;
    }
    client.replace(next.config, next.tls, tokenBucket(next.config.ship.maxBytesPerS));
    scanner = scannerFor(next.config, log);
    retry.setPolicy(next.config.retry);
    log.notice('reloaded', { file: deps.file, cert_not_after: next.tls.certNotAfter.toISOString() });
    notifier.ready();
    status.note(null);
    return next.config;
  }
}
