// `shipper --once`: recovery, one pass over everything ready (ignoring any backoff the
// daemon saved), a summary, and SPEC's exit code:
//   0  the pass finished and nothing is left waiting on a retry
//   69 the receiver was unreachable (or misrouted) and nothing got through
//   75 episodes were left for a retry, or another shipper holds the lock
//   77 the receiver refused our credentials

import { configPath, loadConfig } from '../config/load.js';
import { ExitCodes } from '../errors.js';
import { prepareFolders } from '../queue/folders.js';
import { lockInstance, lockPass } from '../queue/lock.js';
import { runPass, type PassReport } from '../queue/pass.js';
import { recordPass } from '../queue/record.js';
import { errorFields } from '../log/logger.js';
import { writePassMetrics } from '../metrics/textfile.js';
import { recover } from '../queue/recover.js';
import { RetryBook } from '../queue/retry-book.js';
import { Scanner } from '../queue/scan.js';
import { readRetry } from '../queue/state.js';
import { tokenBucket } from '../transport/throttle.js';
import { ReceiverClient } from '../transport/client.js';
import type { Args } from './args.js';
import type { Io } from './io.js';

function mb(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
}

export function onceExitCode(r: PassReport): number {
  const gotThrough = r.shipped.length > 0 || r.quarantined.some((q) => q.status !== null);
  if (r.stopped?.class === 'auth') return ExitCodes.NOPERM;
  if ((r.stopped?.class === 'unreachable' || r.stopped?.class === 'misrouted') && !gotThrough) return ExitCodes.UNAVAILABLE;
  if (r.stopped || r.retry.length > 0 || r.aborted) return ExitCodes.TEMPFAIL;
  return ExitCodes.OK;
}

export function summary(r: PassReport): string[] {
  const secs = ((r.finishedAt - r.startedAt) / 1000).toFixed(1);
  const waiting = r.scan.unsettled + r.scan.notReady;
  const done = new Set<string>([...r.shipped.map((s) => s.id), ...r.quarantined.map((q) => q.episode)]);
  const left = r.scan.ready.filter((e) => !done.has(e.id)).length;
  const lines = [
    `shipped ${r.shipped.length}, quarantined ${r.quarantined.length}, left for retry ${left}, ${mb(r.bytes)} in ${secs} s` +
      (waiting > 0 ? ` (${waiting} not ready yet)` : ''),
  ];
  for (const q of r.quarantined) {
    lines.push(`quarantined ${q.episode}${q.as !== q.episode ? ` (as ${q.as})` : ''}: ${q.reason}${q.status !== null ? ` (${q.status})` : ''}: ${q.detail}`);
  }
  for (const t of r.retry) lines.push(`retry later ${t.id}: ${t.message}`);
  if (r.stopped) lines.push(`stopped: ${r.stopped.message}`);
  if (r.aborted) lines.push('interrupted: the episodes in flight stay where they were and are retried');
  return lines;
}

export async function onceMode(args: Args, io: Io): Promise<number> {
  const { config, tls } = await loadConfig(configPath(args.config, io.env), { env: io.env });
  await prepareFolders(config);
  const instance = await lockInstance(config.paths.state, 'once');
  const client = new ReceiverClient({ config, tls, log: io.log, throttle: tokenBucket(config.ship.maxBytesPerS) });
  try {
    const passLock = await lockPass(config.paths.state, 'once', { signal: io.signal });
    try {
      await recover(config.paths, io.log);
      const retry = new RetryBook(await readRetry(config.paths.state), config.retry);
      const scanner = new Scanner(
        { episodes: config.paths.episodes, readyMarker: config.ship.readyMarker, settleMs: config.ship.settleMs, requireCodeVersion: config.ship.requireCodeVersion },
        io.log,
      );
      const report = await runPass({ config, receiver: client, scanner, retry, log: io.log, signal: io.signal }, { ignoreBackoff: true });
      await recordPass(config.paths, report, retry, io.log);
      // A metrics file that cannot be written is logged, never a reason to fail the pass.
      await writePassMetrics(config, report).catch((err: unknown) => io.log.error('metrics_failed', { ...errorFields(err) }));
      for (const line of summary(report)) io.out(line);
      return onceExitCode(report);
    } finally {
      await passLock.release();
    }
  } finally {
    await client.close();
    await instance.release();
  }
}
