// The Prometheus metrics of one shipper process, fed by pass reports and rendered by
// prom-client from a private Registry (never the global one, and no default process
// metrics: node_exporter already exports the host's, and a text file rewritten once per
// pass would show stale process figures between passes).
//
// Counters count from the start of this process (the daemon) or this pass (`--once`):
// Prometheus' rate() and increase() handle the reset a restart causes. Gauges describe
// the moment after the last pass. Names carry their units; every one is listed, with an
// example alert, in docs/operator-tools.md.

import { Counter, Gauge, Registry } from 'prom-client';
import type { PassReport } from '../queue/pass.js';
import { REASONS } from '../queue/quarantine.js';

/** Receiver-level failure classes counted by shipper_receiver_errors_total. */
export const RECEIVER_ERROR_CLASSES = ['auth', 'misrouted', 'unreachable', 'transient'] as const;

export interface PassFacts {
  /** WATCHDOG=1 pings sent so far by this process (WatchdogGate.pings); 0 without systemd. */
  watchdogPings: number;
  /** Epoch ms of the last pass that shipped something (from state/last-pass.json), or null. */
  lastSuccessMs: number | null;
  /** Epoch ms now, for the age of the oldest pending episode. */
  now: number;
}

export class ShipperMetrics {
  readonly registry = new Registry();
  #pingsSeen = 0;
  readonly #shipped: Counter;
  readonly #quarantined: Counter<'reason'>;
  readonly #retried: Counter;
  readonly #bytes: Counter;
  readonly #receiverErrors: Counter<'class'>;
  readonly #watchdog: Counter;
  readonly #pending: Gauge<'state'>;
  readonly #oldest: Gauge;
  readonly #lastSuccess: Gauge;
  readonly #lastDuration: Gauge;
  readonly #lastPass: Gauge;
  readonly #info: Gauge<'version' | 'host_id'>;

  constructor(info: { version: string; hostId: string }) {
    const registers = [this.registry];
    this.#shipped = new Counter({ name: 'shipper_episodes_shipped_total', help: 'Episodes the receiver accepted (2xx) and that moved to shipped/.', registers });
    this.#quarantined = new Counter({ name: 'shipper_episodes_quarantined_total', help: 'Episodes moved to quarantine/, by reason.', labelNames: ['reason'], registers });
    this.#retried = new Counter({ name: 'shipper_episodes_retried_total', help: 'Episode attempts left for a retry (transient answers, files that changed while packed, I/O errors).', registers });
    this.#bytes = new Counter({ name: 'shipper_shipped_bytes_total', help: 'Archive bytes (compressed) the receiver accepted.', registers });
    this.#receiverErrors = new Counter({ name: 'shipper_receiver_errors_total', help: 'Receiver failures, by class: auth (401/403), misrouted, unreachable, transient (408/425/429/5xx).', labelNames: ['class'], registers });
    this.#watchdog = new Counter({ name: 'shipper_watchdog_pings_total', help: 'WATCHDOG=1 notifications sent to systemd.', registers });
    this.#pending = new Gauge({ name: 'shipper_episodes_pending', help: 'Episodes waiting in episodes/ after the last pass: ready (settled marker), not_ready (no marker yet, or settling).', labelNames: ['state'], registers });
    this.#oldest = new Gauge({ name: 'shipper_oldest_pending_age_seconds', help: 'Age of the oldest ready episode still waiting (since its marker was written); 0 when none waits.', registers });
    this.#lastSuccess = new Gauge({ name: 'shipper_last_success_timestamp_seconds', help: 'Unix time of the last pass that shipped an episode; 0 if none ever did.', registers });
    this.#lastDuration = new Gauge({ name: 'shipper_last_pass_duration_seconds', help: 'How long the last pass took.', registers });
    this.#lastPass = new Gauge({ name: 'shipper_last_pass_timestamp_seconds', help: 'Unix time the last pass finished.', registers });
    this.#info = new Gauge({ name: 'shipper_info', help: 'Always 1; the labels name the shipper version and host.', labelNames: ['version', 'host_id'], registers });

    // Every series exists from the first file on, so that absent() and rate() need no guessing.
    for (const reason of REASONS) this.#quarantined.inc({ reason }, 0);
    for (const cls of RECEIVER_ERROR_CLASSES) this.#receiverErrors.inc({ class: cls }, 0);
    this.#info.set({ version: info.version, host_id: info.hostId }, 1);
  }

  /** Count what one pass did and set the gauges to the state after it. */
  observe(r: PassReport, facts: PassFacts): void {
    this.#shipped.inc(r.shipped.length);
    this.#bytes.inc(r.bytes);
    for (const q of r.quarantined) this.#quarantined.inc({ reason: q.reason });
    this.#retried.inc(r.retry.length);
    for (const t of r.retry) if (t.class === 'transient') this.#receiverErrors.inc({ class: 'transient' });
    const stopped = r.stopped?.class;
    if (stopped && (RECEIVER_ERROR_CLASSES as readonly string[]).includes(stopped)) this.#receiverErrors.inc({ class: stopped });
    if (facts.watchdogPings > this.#pingsSeen) {
      this.#watchdog.inc(facts.watchdogPings - this.#pingsSeen);
      this.#pingsSeen = facts.watchdogPings;
    }

    const gone = new Set<string>([...r.shipped.map((s) => s.id), ...r.quarantined.map((q) => q.episode)]);
    const left = r.scan.ready.filter((e) => !gone.has(e.id));
    this.#pending.set({ state: 'ready' }, left.length);
    this.#pending.set({ state: 'not_ready' }, r.scan.unsettled + r.scan.notReady);
    const oldest = left.reduce<number | null>((m, e) => (m === null || e.markerMtimeMs < m ? e.markerMtimeMs : m), null);
    this.#oldest.set(oldest === null ? 0 : Math.max(0, (facts.now - oldest) / 1000));
    if (facts.lastSuccessMs !== null) this.#lastSuccess.set(facts.lastSuccessMs / 1000);
    this.#lastDuration.set((r.finishedAt - r.startedAt) / 1000);
    this.#lastPass.set(r.finishedAt / 1000);
  }

  /** The Prometheus text exposition format (0.0.4), as node_exporter's textfile collector reads it. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
