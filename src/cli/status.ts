// `shipper status [--json]`: the queue as the folders and state/ show it, read-only, no
// lock taken, no receiver needed, so it is safe while the daemon runs. The human form leads
// with a verdict (OK / WARN / FAIL) and fits a terminal; `--json` prints the Snapshot
// (field names documented in docs/operator-tools.md). Exit 0 whatever the verdict: status
// reports, `shipper doctor` judges. A missing or broken config is exit 78.

import { configPath, loadConfigFile } from '../config/load.js';
import { bytes, oneLine, plural, span, when } from '../doctor/format.js';
import { takeSnapshot, type Snapshot } from '../doctor/snapshot.js';
import { verdict, type Verdict } from '../doctor/verdict.js';
import { ExitCodes } from '../errors.js';
import type { Args } from './args.js';
import type { Io } from './io.js';

function tally(map: Record<string, number>): string {
  return Object.entries(map)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

const row = (label: string, text: string) => `${label.padEnd(13)}${text}`;

/** The human rendering: the verdict first, then one line per fact. */
export function renderStatus(s: Snapshot, v: Verdict, now: number): string[] {
  const lines = [`${v.level.toUpperCase()}: ${v.message}`, ''];
  const d = s.daemon;
  if (d.running) {
    const since = d.since ? `, since ${when(Date.parse(d.since), now)}` : '';
    const via = d.seen_via === 'lock_file' ? ' (seen through state/lock)' : '';
    lines.push(row('daemon', `${d.mode === 'once' ? 'a manual --once pass' : 'running'}, pid ${d.pid ?? '?'}${since}${via}`));
  } else {
    lines.push(row('daemon', 'not running (no shipper holds the lock)'));
  }

  const p = s.pending;
  const parts = [`${p.ready} ready`];
  if (p.settling > 0) parts.push(`${p.settling} settling`);
  if (p.not_ready > 0) parts.push(`${p.not_ready} not ready yet`);
  let pending = parts.join(', ');
  if (p.oldest_ready_id !== null && p.oldest_ready_age_s !== null) {
    pending += `; oldest ready: ${p.oldest_ready_id}, waiting ${span(p.oldest_ready_age_s * 1000)}`;
  }
  lines.push(row('pending', pending));
  if (p.waiting_retry > 0) lines.push(row('', `${plural(p.waiting_retry, 'episode')} waiting for a retry`));
  if (p.will_quarantine > 0) {
    lines.push(row('', `${plural(p.will_quarantine, 'folder')} will be quarantined at the next pass (${tally(p.will_quarantine_by_reason)})`));
  }
  lines.push(row('in outbox', s.outbox.archives === 0 ? '0' : `${plural(s.outbox.archives, 'archive')}, ${bytes(s.outbox.bytes)}`));
  lines.push(row('shipped', String(s.shipped)));
  const q = s.quarantined;
  let qText = String(q.total);
  if (q.total > 0) qText += `: ${tally(q.by_reason)}`;
  if (Object.keys(q.by_status).length > 0) qText += `; by HTTP status: ${tally(q.by_status)}`;
  lines.push(row('quarantined', qText));
  if (q.requeue_in_progress > 0) lines.push(row('', `${q.requeue_in_progress} requeue cut short (finished by the next start or --once)`));

  const r = s.retry;
  if (r.next_retry_at) {
    const why = r.receiver.failures > 0 && r.receiver.last_class ? `; the receiver: ${r.receiver.last_class}` : '';
    lines.push(row('next retry', `${when(Date.parse(r.next_retry_at), now)}${why}`));
  }
  const lp = s.last_pass;
  if (lp) {
    const what = `${lp.outcome}: shipped ${lp.shipped}, quarantined ${lp.quarantined}, retried ${lp.retried}, ${bytes(lp.bytes)} in ${(lp.duration_ms / 1000).toFixed(1)} s`;
    lines.push(row('last pass', `${when(Date.parse(lp.finished_at), now)}, ${what}`));
  } else {
    lines.push(row('last pass', 'none recorded'));
  }
  lines.push(row('last success', s.last_success_at ? when(Date.parse(s.last_success_at), now) : 'never'));
  if (s.last_error) {
    lines.push(row('last error', `${when(Date.parse(s.last_error.at), now)} ${s.last_error.class}`));
    lines.push(row('', oneLine(s.last_error.message)));
  }
  if (s.folders_missing.length > 0) lines.push(row('not created', `${s.folders_missing.join(', ')} (the daemon creates them at start)`));
  lines.push(row('config', s.config));
  return lines;
}

export async function statusMode(args: Args, io: Io, now: () => number = Date.now): Promise<number> {
  const config = await loadConfigFile(configPath(args.config, io.env), io.env);
  const t = now();
  const snap = await takeSnapshot(config, t);
  const v = verdict(snap, t);
  if (args.json) {
    io.out(JSON.stringify({ verdict: v, ...snap }, null, 2));
  } else {
    for (const line of renderStatus(snap, v, t)) io.out(line);
  }
  return ExitCodes.OK;
}
