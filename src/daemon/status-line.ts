// STATUS= for `systemctl status`: what the daemon does right now, with the counts an
// operator looks for first. Progress updates are rate-limited to one a second, and a line
// equal to the last one sent is not sent again (an idle daemon would repeat it every pass).

import type { PassReport, Progress, Stop } from '../queue/pass.js';
import type { Notifier } from '../systemd/notifier.js';

export class StatusLine {
  readonly counts = { pending: 0, shipped: 0, quarantined: 0 };
  #notifier: Notifier;
  #lastSuccess: string | null = null;
  #lastError: string | null = null;
  #note: string | null = null;
  #lastProgressAt = 0;
  #progressKey = '';
  #sent: string | null = null;

  constructor(notifier: Notifier) {
    this.#notifier = notifier;
  }

  set(text: string): void {
    const line = this.#note ? `${text}; ${this.#note}` : text;
    if (line === this.#sent) return;
    this.#sent = line;
    this.#notifier.status(line);
  }

  note(text: string | null): void {
    this.#note = text;
  }

  #tail(): string {
    const parts = [`${this.counts.pending} pending, ${this.counts.shipped} shipped, ${this.counts.quarantined} quarantined`];
    if (this.#lastSuccess) parts.push(`last success ${this.#lastSuccess}`);
    if (this.#lastError) parts.push(`last error: ${this.#lastError}`);
    return parts.join('; ');
  }

  idle(): void {
    this.set(`idle: ${this.#tail()}`);
  }

  progress(p: Progress): void {
    if (p.phase === 'step') return;
    // A new phase or episode shows at once (an upload that hangs in its first second must
    // not leave "packing" on display); updates of the same one at most once a second.
    const key = `${p.phase}:${p.id}`;
    const now = performance.now();
    if (key === this.#progressKey && now - this.#lastProgressAt < 1000) return;
    this.#progressKey = key;
    this.#lastProgressAt = now;
    if (p.phase === 'upload') {
      const pct = p.total > 0 ? Math.floor((p.sent / p.total) * 100) : 100;
      this.set(`shipping ${p.id} (${pct}%): ${this.#tail()}`);
    } else {
      this.set(`packing ${p.id} (${(p.inputBytes / 1e6).toFixed(0)} MB read): ${this.#tail()}`);
    }
  }

  afterPass(r: PassReport): void {
    this.counts.pending = r.scan.ready.length - r.shipped.length + r.scan.unsettled + r.scan.notReady;
    this.counts.pending -= r.quarantined.filter((q) => r.scan.ready.some((e) => e.id === q.episode)).length;
    this.counts.shipped += r.shipped.length;
    this.counts.quarantined += r.quarantined.length;
    const at = new Date(r.finishedAt).toISOString().replace(/\.\d+Z$/, 'Z');
    if (r.shipped.length > 0) this.#lastSuccess = at;
    if (r.stopped) this.#lastError = `${r.stopped.class} at ${at}`;
    else if (r.retry.length > 0) this.#lastError = `${r.retry[r.retry.length - 1]!.class} at ${at}`;
    if (!r.stopped) this.idle();
  }

  backingOff(stop: Stop, until: number): void {
    const secs = Math.max(0, Math.round((until - Date.now()) / 1000));
    this.set(`backing off: ${stop.class}${stop.status ? ` (${stop.status})` : ''}, next try in ${secs} s: ${this.#tail()}`);
  }
}
