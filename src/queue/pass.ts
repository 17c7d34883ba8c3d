// One shipping pass over episodes/: local verdicts first, then (with work to do) a ping,
// then a pipeline: one packer runs ahead of `ship.concurrency` uploaders, at most that many
// archives waiting, so compression of the next episode overlaps the upload of the current
// ones. Every answer is classified and acted on per SPEC; a receiver-level failure (auth,
// misrouted, unreachable) stops new work and backs off, and never quarantines anything.
//
// The pass assumes the caller holds the pass lock and that recovery has run.

import type { Config } from '../config/schema.js';
import { ErrorCodes, isShipperError } from '../errors.js';
import { errorFields, type Logger } from '../log/logger.js';
import type { PutOptions, Result } from '../transport/client.js';
import { codeForClass, type OutcomeClass } from '../transport/classify.js';
import { join } from 'node:path';
import { exists, moveInto } from './atomic.js';
import { printable } from './layout.js';
import { dropPair, prepareArchive, type Archive } from './outbox.js';
import { Pipeline } from './pipeline.js';
import { makeReason, quarantineEpisode, type Reason, type ReasonInput } from './quarantine.js';
import type { RetryBook } from './retry-book.js';
import type { ReadyEpisode, ScanResult, Scanner } from './scan.js';

/** The part of ReceiverClient a pass needs. */
export interface Receiver {
  readonly target: string;
  ping(signal?: AbortSignal): Promise<Result>;
  putEpisode(o: PutOptions): Promise<Result>;
}

export type Progress =
  | { phase: 'pack'; id: string; inputBytes: number }
  | { phase: 'upload'; id: string; sent: number; total: number }
  | { phase: 'step' };

export interface PassDeps {
  config: Config;
  receiver: Receiver;
  scanner: Scanner;
  retry: RetryBook;
  log: Logger;
  /** Hard stop: aborts packs and uploads in flight. */
  signal: AbortSignal;
  /** Soft stop: take no new work (uploads in flight go on until `signal`). */
  stop?: AbortSignal;
  /** Epoch ms. */
  now?: () => number;
  /** Called whenever bytes move or a step completes (the watchdog and STATUS feed on it). */
  onProgress?: (p: Progress) => void;
}

export interface PassOptions {
  /** `--once`: try everything ready now, whatever backoff the daemon saved. */
  ignoreBackoff: boolean;
}

export interface Shipped {
  id: string;
  as: string;
  bytes: number;
  status: number;
}
export interface Quarantined {
  episode: string;
  as: string;
  reason: Reason;
  status: number | null;
  detail: string;
}
export interface Retry {
  id: string;
  class: string;
  message: string;
  nextAt: number;
}
export interface Stop {
  class: string;
  message: string;
  status: number | null;
  kind: string | null;
}

export interface PassReport {
  startedAt: number;
  finishedAt: number;
  scan: ScanResult;
  /** Ready episodes skipped because their backoff has not run out. */
  deferred: number;
  shipped: Shipped[];
  quarantined: Quarantined[];
  retry: Retry[];
  /** Set when the receiver (or the disk) stopped the pass. */
  stopped: Stop | null;
  /** Archive bytes the receiver accepted. */
  bytes: number;
  /** Whether a ping was needed, and how it went. */
  ping: Result | null;
  /** Stopped early by the signal (shutdown). */
  aborted: boolean;
}

/** A pass report with nothing in it yet. */
function emptyReport(startedAt: number, scan: ScanResult): PassReport {
  return { startedAt, finishedAt: startedAt, scan, deferred: 0, shipped: [], quarantined: [], retry: [], stopped: null, bytes: 0, ping: null, aborted: false };
}

/** Local verdicts for a pack failure: quarantine reason, or null for "try again later". */
function packVerdict(err: unknown): { reason: Reason; detail: string } | null {
  if (isShipperError(err, ErrorCodes.EPISODE_TOO_LARGE)) return { reason: 'too_large', detail: err.message };
  if (isShipperError(err, ErrorCodes.EPISODE_UNREADABLE)) return { reason: 'unreadable', detail: err.message };
  return null;
}

export async function runPass(deps: PassDeps, options: PassOptions): Promise<PassReport> {
  const { config, receiver, log, signal, retry } = deps;
  const now = deps.now ?? Date.now;
  const paths = config.paths;
  const started = now();
  const step = () => deps.onProgress?.({ phase: 'step' });

  // stopPass wakes the pipeline's workers (once there is one) to see that they must stop.
  let wakeWorkers = () => {};

  const scan = await deps.scanner.scan(started);
  const report = emptyReport(started, scan);
  retry.keepOnly(new Set(scan.ready.map((e) => e.id)));

  const quarantine = async (name: Buffer, input: ReasonInput) => {
    const reason = makeReason(name, config.hostId, input, new Date(now()));
    const got = await quarantineEpisode(paths, name, reason);
    const q: Quarantined = { episode: printable(name), as: printable(got), reason: input.reason, status: input.httpStatus ?? null, detail: input.detail ?? '' };
    report.quarantined.push(q);
    log.warn('quarantined', { episode: q.episode, as: q.as, reason: q.reason, code: input.reason === 'receiver_rejected' ? ErrorCodes.RECEIVER_REJECTED : undefined, http_status: q.status ?? undefined, detail: q.detail });
    step();
  };

  // 1. Local verdicts: no round trip, no dependence on the receiver.
  for (const r of scan.rejects) {
    if (signal.aborted || report.stopped) break;
    await contained(r.name, null, () => quarantine(r.name, { reason: r.reason, detail: r.detail }));
  }

  // 2. What may go now.
  const t0 = now();
  const due = options.ignoreBackoff ? scan.ready : scan.ready.filter((e) => retry.episodeDue(e.id, t0));
  report.deferred = scan.ready.length - due.length;
  if (due.length === 0 || signal.aborted || deps.stop?.aborted) return finish();
  if (!options.ignoreBackoff && !retry.receiverDue(t0)) {
    report.deferred = scan.ready.length;
    return finish();
  }

  // 3. Ping: unless it answers 200 in this pass, nothing is sent and nothing is quarantined.
  const ping = await receiver.ping(signal).catch(rethrowUnlessAborted);
  if (ping === null) return finish(true);
  report.ping = ping;
  step();
  if (ping.status !== 200) {
    const cls = ping.class === 'shipped' ? 'misrouted' : ping.class;
    stopPass({ class: cls, message: `ping: ${ping.message}`, status: ping.status, kind: ping.kind }, ping.retryAfterMs);
    return finish();
  }

  // 4. The pipeline: one packer ahead of `ship.concurrency` uploads.
  const softStop = deps.stop;
  const pipe = new Pipeline<ReadyEpisode, Archive>({
    items: due,
    depth: config.ship.concurrency,
    consumers: config.ship.concurrency,
    stopped: () => report.stopped !== null || signal.aborted || softStop?.aborted === true,
    produce: async (ep) => {
      let archive: Archive | null = null;
      await contained(ep.name, ep.id, async () => {
        archive = await pack(ep);
      });
      return archive;
    },
    consume: (ep, archive) => contained(ep.name, ep.id, () => upload(ep, archive)),
  });
  wakeWorkers = () => pipe.wake();
  // Packing is always redone cheaply: a soft stop aborts it at once. (One controller per
  // pass with listeners removed at the end: long-lived signals must not collect them.)
  const packAc = new AbortController();
  const packSignal = packAc.signal;
  const onStop = () => {
    packAc.abort(signal.reason ?? softStop?.reason);
    pipe.wake();
  };
  if (signal.aborted || softStop?.aborted) onStop();
  signal.addEventListener('abort', onStop);
  softStop?.addEventListener('abort', onStop);

  async function pack(ep: ReadyEpisode): Promise<Archive | null> {
    try {
      const archive = await prepareArchive({
        paths,
        id: ep.id,
        level: config.ship.zstdLevel,
        maxInputBytes: config.ship.maxEpisodeBytes,
        signal: packSignal,
        log,
        onProgress: (inputBytes) => deps.onProgress?.({ phase: 'pack', id: ep.id, inputBytes }),
      });
      step();
      return archive;
    } catch (err) {
      if (isShipperError(err, ErrorCodes.ABORTED) || packSignal.aborted) return null;
      const verdict = packVerdict(err);
      if (verdict) {
        await quarantine(ep.name, { reason: verdict.reason, detail: verdict.detail });
        return null;
      }
      if (isShipperError(err, ErrorCodes.DISK_FULL)) {
        stopPass({ class: 'disk_full', message: err.message, status: null, kind: null }, null);
        return null;
      }
      const changed = isShipperError(err, ErrorCodes.EPISODE_CHANGED);
      const message = err instanceof Error ? err.message : String(err);
      const nextAt = retry.episodeFailed(ep.id, changed ? 'changed' : 'pack_failed', null, message, changed ? config.ship.settleMs : null, now());
      report.retry.push({ id: ep.id, class: changed ? 'changed' : 'pack_failed', message, nextAt });
      log[changed ? 'notice' : 'error']('pack_failed', { episode: ep.id, ...errorFields(err), retry_in_s: Math.round((nextAt - now()) / 1000) });
      return null;
    }
  }

  async function upload(ep: ReadyEpisode, archive: Archive): Promise<void> {
    const res = await receiver
      .putEpisode({
        id: ep.id,
        file: archive.path,
        bytes: archive.bytes,
        sha256: archive.sha256,
        signal,
        onProgress: (sent) => deps.onProgress?.({ phase: 'upload', id: ep.id, sent, total: archive.bytes }),
      })
      .catch(rethrowUnlessAborted);
    if (res === null) return;
    step();
    switch (res.class) {
      case 'shipped': {
        const got = await moveInto(paths.episodes, ep.name, paths.shipped);
        await dropPair(paths, ep.id);
        retry.episodeDone(ep.id);
        report.shipped.push({ id: ep.id, as: printable(got), bytes: archive.bytes, status: res.status! });
        report.bytes += archive.bytes;
        log.info('shipped', { episode: ep.id, as: printable(got), status: res.status!, bytes: archive.bytes, ms: res.elapsedMs, reused: archive.reused || undefined });
        step();
        return;
      }
      case 'fatal':
        retry.episodeDone(ep.id);
        await quarantine(ep.name, {
          reason: 'receiver_rejected',
          httpStatus: res.status,
          receiverBody: res.body,
          archiveSha256: archive.sha256.toString('hex'),
          archiveBytes: archive.bytes,
          detail: res.message,
        });
        return;
      case 'transient': {
        const nextAt = retry.episodeFailed(ep.id, 'transient', res.status, res.message, res.retryAfterMs, now());
        report.retry.push({ id: ep.id, class: 'transient', message: res.message, nextAt });
        log.warn('retry_later', { episode: ep.id, code: ErrorCodes.RECEIVER_TRANSIENT, status: res.status ?? undefined, message: res.message, retry_in_s: Math.round((nextAt - now()) / 1000) });
        return;
      }
      case 'auth':
      case 'misrouted':
      case 'unreachable':
        stopPass({ class: res.class, message: res.message, status: res.status, kind: res.kind }, res.retryAfterMs);
        return;
    }
  }

  function stopPass(stop: Stop, retryAfterMs: number | null): void {
    if (report.stopped) return;
    report.stopped = stop;
    const nextAt = retry.receiverFailed(stop.class, stop.message, retryAfterMs, now());
    const level = stop.class === 'auth' || stop.class === 'misrouted' || stop.class === 'disk_full' ? 'error' : 'warn';
    log[level]('pass_stopped', { class: stop.class, code: codeForClass(stop.class as OutcomeClass), status: stop.status ?? undefined, kind: stop.kind ?? undefined, message: stop.message, retry_in_s: Math.round((nextAt - now()) / 1000) });
    wakeWorkers();
  }

  /**
   * A failure that concerns one episode (it vanished, a move failed) sets that episode
   * aside for a retry and lets the pass go on; a full disk stops the pass; nothing here
   * ever takes the daemon down.
   */
  async function contained(name: Buffer, id: string | null, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (err) {
      if (isShipperError(err, ErrorCodes.ABORTED) || signal.aborted) return;
      if (isShipperError(err, ErrorCodes.DISK_FULL)) {
        stopPass({ class: 'disk_full', message: err.message, status: null, kind: null }, null);
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      if (id !== null && !(await exists(join(paths.episodes, id)).catch(() => true))) {
        // The recorder (or an operator) removed the episode while we worked on it.
        await dropPair(paths, id).catch(() => {});
        log.warn('episode_vanished', { episode: id, ...errorFields(err) });
        return;
      }
      log.error('episode_failed', { episode: printable(name), ...errorFields(err), fix: 'it stays where it is and is tried again later' });
      if (id !== null) {
        const nextAt = retry.episodeFailed(id, 'io', null, message, null, now());
        report.retry.push({ id, class: 'io', message, nextAt });
      }
    }
  }

  function rethrowUnlessAborted(err: unknown): null {
    if (isShipperError(err, ErrorCodes.ABORTED) || signal.aborted) return null;
    throw err;
  }

  try {
    await pipe.run();
  } finally {
    signal.removeEventListener('abort', onStop);
    softStop?.removeEventListener('abort', onStop);
  }
  if (!report.stopped && report.shipped.length + report.quarantined.length > 0) retry.receiverOk();
  return finish();

  function finish(aborted = false): PassReport {
    report.aborted = aborted || signal.aborted || deps.stop?.aborted === true;
    report.finishedAt = now();
    return report;
  }
}

