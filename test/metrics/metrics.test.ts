// ShipperMetrics on synthetic pass reports: what each pass adds to the counters, what the
// gauges say after it, and a strictly valid Prometheus text file.

import { describe, expect, it } from 'vitest';
import { ShipperMetrics } from '../../src/metrics/metrics.js';
import type { PassReport } from '../../src/queue/pass.js';
import type { ScanResult } from '../../src/queue/scan.js';
import { parseExposition, sampleValue } from '../doctor/helpers.js';

const T0 = Date.parse('2026-11-22T10:00:00Z');

function ready(id: string, ageS: number) {
  return { id, name: Buffer.from(id), markerMtimeMs: T0 - ageS * 1000 };
}

function report(over: Omit<Partial<PassReport>, 'scan'> & { scan?: Partial<ScanResult> } = {}): PassReport {
  const scan: ScanResult = { ready: [], rejects: [], unsettled: 0, notReady: 0, oldestReadyMs: null, ...over.scan };
  return { startedAt: T0 - 2500, finishedAt: T0, deferred: 0, shipped: [], quarantined: [], retry: [], stopped: null, bytes: 0, ping: null, aborted: false, ...over, scan };
}

describe('ShipperMetrics', () => {
  it('starts with every series present at zero and an info line', async () => {
    const m = new ShipperMetrics({ version: '1.2.3', hostId: 'lab-01' });
    const s = parseExposition(await m.render());
    expect(sampleValue(s, 'shipper_info', '{version="1.2.3",host_id="lab-01"}')).toBe(1);
    for (const reason of ['receiver_rejected', 'invalid_meta', 'invalid_episode_id', 'unstamped', 'too_large', 'unreadable']) {
      expect(sampleValue(s, 'shipper_episodes_quarantined_total', `{reason="${reason}"}`)).toBe(0);
    }
    for (const cls of ['auth', 'misrouted', 'unreachable', 'transient']) expect(sampleValue(s, 'shipper_receiver_errors_total', `{class="${cls}"}`)).toBe(0);
    expect(sampleValue(s, 'shipper_last_success_timestamp_seconds')).toBe(0);
  });

  it('counts what passes did, across passes, and sets the gauges to the state after the last one', async () => {
    const m = new ShipperMetrics({ version: '1.2.3', hostId: 'lab-01' });
    m.observe(
      report({
        scan: { ready: [ready('ep-1', 300), ready('ep-2', 200), ready('ep-3', 100), ready('ep-4', 50)], unsettled: 2, notReady: 3 },
        shipped: [{ id: 'ep-1', as: 'ep-1', bytes: 1000, status: 201 }],
        quarantined: [{ episode: 'ep-2', as: 'ep-2', reason: 'receiver_rejected', status: 412, detail: 'window' }, { episode: 'bad id', as: 'bad id', reason: 'invalid_episode_id', status: null, detail: '' }],
        retry: [{ id: 'ep-3', class: 'transient', message: '503', nextAt: T0 + 5000 }, { id: 'ep-4', class: 'changed', message: 'changed', nextAt: T0 + 5000 }],
        bytes: 1000,
      }),
      { watchdogPings: 4, lastSuccessMs: T0, now: T0 },
    );
    m.observe(report({ scan: { ready: [ready('ep-3', 110)] }, stopped: { class: 'unreachable', message: 'refused', status: null, kind: 'refused' } }), { watchdogPings: 6, lastSuccessMs: T0, now: T0 + 10_000 });
    const s = parseExposition(await m.render());
    expect(sampleValue(s, 'shipper_episodes_shipped_total')).toBe(1);
    expect(sampleValue(s, 'shipper_shipped_bytes_total')).toBe(1000);
    expect(sampleValue(s, 'shipper_episodes_quarantined_total', '{reason="receiver_rejected"}')).toBe(1);
    expect(sampleValue(s, 'shipper_episodes_quarantined_total', '{reason="invalid_episode_id"}')).toBe(1);
    expect(sampleValue(s, 'shipper_episodes_retried_total')).toBe(2);
    expect(sampleValue(s, 'shipper_receiver_errors_total', '{class="transient"}')).toBe(1);
    expect(sampleValue(s, 'shipper_receiver_errors_total', '{class="unreachable"}')).toBe(1);
    expect(sampleValue(s, 'shipper_watchdog_pings_total')).toBe(6);
    // After the second pass: one ready (ep-3, 120 s old by then), none not ready.
    expect(sampleValue(s, 'shipper_episodes_pending', '{state="ready"}')).toBe(1);
    expect(sampleValue(s, 'shipper_episodes_pending', '{state="not_ready"}')).toBe(0);
    expect(sampleValue(s, 'shipper_oldest_pending_age_seconds')).toBe(120);
    expect(sampleValue(s, 'shipper_last_success_timestamp_seconds')).toBe(T0 / 1000);
    expect(sampleValue(s, 'shipper_last_pass_duration_seconds')).toBe(2.5);
    expect(sampleValue(s, 'shipper_last_pass_timestamp_seconds')).toBe(T0 / 1000);
  });

  it('pending after a pass excludes what it shipped or quarantined; the oldest of the rest counts', async () => {
    const m = new ShipperMetrics({ version: 'v', hostId: 'h' });
    m.observe(
      report({ scan: { ready: [ready('a', 900), ready('b', 60)], unsettled: 1 }, shipped: [{ id: 'a', as: 'a', bytes: 1, status: 201 }] }),
      { watchdogPings: 0, lastSuccessMs: null, now: T0 },
    );
    const s = parseExposition(await m.render());
    expect(sampleValue(s, 'shipper_episodes_pending', '{state="ready"}')).toBe(1);
    expect(sampleValue(s, 'shipper_episodes_pending', '{state="not_ready"}')).toBe(1);
    expect(sampleValue(s, 'shipper_oldest_pending_age_seconds')).toBe(60);
  });

  it('escapes label values, so a strange host id cannot break the file', async () => {
    const m = new ShipperMetrics({ version: '1"\\\n', hostId: 'lab-01' });
    expect(() => parseExposition('shipper_x 1\n')).toThrow(/without HELP and TYPE/);
    const s = parseExposition(await m.render());
    expect(s.find((x) => x.name === 'shipper_info')!.labels).toBe('{version="1\\"\\\\\\n",host_id="lab-01"}');
  });

  it('uses a private registry: two instances do not collide', async () => {
    const a = new ShipperMetrics({ version: 'v', hostId: 'a' });
    const b = new ShipperMetrics({ version: 'v', hostId: 'b' });
    a.observe(report({ shipped: [{ id: 'x', as: 'x', bytes: 5, status: 201 }], bytes: 5 }), { watchdogPings: 0, lastSuccessMs: T0, now: T0 });
    expect(sampleValue(parseExposition(await b.render()), 'shipper_episodes_shipped_total')).toBe(0);
  });
});
