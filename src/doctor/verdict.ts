// The one-line verdict that `shipper status` leads with and `shipper doctor` repeats as its
// queue check. Pure: a snapshot and the time in, a level and a sentence out. The rules, in
// the order they are tried (the first that matches wins):
//
//   FAIL  the receiver refuses our credentials, answers as if the URL were wrong, or the
//         data disk is full (state/retry.json): nothing can ship until a person acts
//   FAIL  no shipper holds the lock and episodes are pending
//   WARN  the receiver is unreachable or failing (the daemon backs off and retries)
//   WARN  episodes wait for their own retry (transient answers, files that changed)
//   WARN  no daemon is running, but nothing is pending
//   WARN  episodes are ready but the last pass ended long ago (a long upload, or a stall)
//   OK    everything else

import type { Snapshot } from './snapshot.js';
import { plural, span } from './format.js';

export type Level = 'ok' | 'warn' | 'fail';

/** Stable names for the rules above, for scripts (`status --json`) and doctor's fixes. */
export type VerdictCode =
  | 'receiver_refuses'
  | 'misrouted'
  | 'disk_full'
  | 'no_daemon_pending'
  | 'receiver_failing'
  | 'episode_retries'
  | 'no_daemon'
  | 'stale_pass'
  | 'once_running'
  | 'idle'
  | 'flowing';

export interface Verdict {
  level: Level;
  code: VerdictCode;
  message: string;
}

/** After this long without a finished pass while episodes are ready, say so. */
export const STALE_PASS_MS = 15 * 60_000;

const RECEIVER_WORDS: Record<string, string> = {
  unreachable: 'receiver unreachable',
  transient: 'receiver busy or failing',
  auth: 'the receiver refuses our credentials',
  misrouted: 'the receiver answers as if receiver.url were wrong',
  disk_full: 'the data disk is full',
};

function episodes(n: number): string {
  return plural(n, 'episode');
}

function lastSuccess(s: Snapshot, now: number): string {
  if (!s.last_success_at) return 'never shipped yet';
  return `last success ${span(now - Date.parse(s.last_success_at))} ago`;
}

export function verdict(s: Snapshot, now: number): Verdict {
  const r = s.retry.receiver;
  const pending = s.pending.ready + s.pending.settling;
  const stuck = r.failures > 0 ? r.last_class : null;
  const pendingWords = pending > 0 ? `${episodes(pending)} pending` : 'nothing pending';

  if (stuck === 'auth' || stuck === 'misrouted' || stuck === 'disk_full') {
    const code: VerdictCode = stuck === 'auth' ? 'receiver_refuses' : stuck;
    return { level: 'fail', code, message: `${RECEIVER_WORDS[stuck]} (${plural(r.failures, 'failed try', 'failed tries')}); ${pendingWords}, ${lastSuccess(s, now)}` };
  }
  if (!s.daemon.running && pending > 0) {
    return { level: 'fail', code: 'no_daemon_pending', message: `no daemon is running and ${episodes(pending)} ${pending === 1 ? 'is' : 'are'} pending` };
  }
  if (stuck !== null) {
    const what = RECEIVER_WORDS[stuck] ?? `receiver: ${stuck}`;
    const n = s.pending.ready;
    const head = n > 0 ? `${episodes(n)} waiting for a retry` : 'the receiver failed';
    return { level: 'warn', code: 'receiver_failing', message: `${head} (${what}, ${plural(r.failures, 'failed try', 'failed tries')}; ${lastSuccess(s, now)})` };
  }
  if (s.pending.waiting_retry > 0) {
    return { level: 'warn', code: 'episode_retries', message: `${episodes(s.pending.waiting_retry)} waiting for a retry (the receiver answered with a transient error, or files changed while packed)` };
  }
  if (!s.daemon.running) {
    return { level: 'warn', code: 'no_daemon', message: 'no daemon is running (nothing is pending)' };
  }
  if (s.pending.ready > 0 && s.daemon.mode === 'daemon' && s.last_pass) {
    const age = now - Date.parse(s.last_pass.finished_at);
    if (age > STALE_PASS_MS) {
      return { level: 'warn', code: 'stale_pass', message: `${episodes(s.pending.ready)} ready but the last pass ended ${span(age)} ago (a long upload, or a stuck daemon: run shipper doctor)` };
    }
  }
  if (s.daemon.mode === 'once') return { level: 'ok', code: 'once_running', message: `a manual --once pass is running (pid ${s.daemon.pid ?? '?'}); ${pendingWords}` };
  if (pending === 0 && s.last_success_at === null) return { level: 'ok', code: 'idle', message: 'the daemon is running; nothing shipped yet and nothing pending' };
  return { level: 'ok', code: 'flowing', message: pending > 0 ? `data is flowing (${pendingWords}, ${lastSuccess(s, now)})` : 'data is flowing' };
}
