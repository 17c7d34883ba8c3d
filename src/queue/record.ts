// What a pass leaves behind for `shipper status`, `doctor` and the next start:
// state/last-pass.json (the last pass, the last success, the last error) and, when it
// changed, state/retry.json. Failing to write them (a full disk) is logged, never fatal:
// the episodes themselves are safe either way.

import type { Paths } from '../config/schema.js';
import { errorFields, type Logger } from '../log/logger.js';
import type { PassReport } from './pass.js';
import type { RetryBook } from './retry-book.js';
import { STATE_FILES, readState, writeState, type LastPass } from './state.js';

export function passOutcome(r: PassReport): string {
  if (r.aborted) return 'aborted';
  if (r.stopped) return r.stopped.class;
  if (r.retry.length > 0) return 'retry';
  if (r.shipped.length + r.quarantined.length > 0) return 'ok';
  return 'idle';
}

export function lastError(r: PassReport, at: string): LastPass['last_error'] {
  if (r.stopped) return { at, class: r.stopped.class, message: r.stopped.message };
  const last = r.retry[r.retry.length - 1];
  if (last) return { at, class: last.class, message: `${last.id}: ${last.message}` };
  const q = r.quarantined[r.quarantined.length - 1];
  if (q) return { at, class: `quarantined:${q.reason}`, message: `${q.episode}: ${q.detail}` };
  return null;
}

export async function recordPass(paths: Paths, report: PassReport, retry: RetryBook, log: Logger): Promise<void> {
  try {
    const prev = await readState<LastPass>(paths.state, STATE_FILES.lastPass);
    const finished = new Date(report.finishedAt).toISOString();
    const last: LastPass = {
      started_at: new Date(report.startedAt).toISOString(),
      finished_at: finished,
      duration_ms: report.finishedAt - report.startedAt,
      shipped: report.shipped.length,
      quarantined: report.quarantined.length,
      retried: report.retry.length,
      bytes: report.bytes,
      outcome: passOutcome(report),
      last_success_at: report.shipped.length > 0 ? finished : (prev?.last_success_at ?? null),
      last_error: lastError(report, finished) ?? prev?.last_error ?? null,
    };
    await writeState(paths.state, STATE_FILES.lastPass, last);
    if (retry.dirty) {
      await writeState(paths.state, STATE_FILES.retry, retry.state);
      retry.saved();
    }
  } catch (err) {
    log.error('state_write_failed', { ...errorFields(err), fix: 'free space in the data folder; shipping goes on' });
  }
}
