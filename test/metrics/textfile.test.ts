// The metrics text file end to end: written atomically by a real `--once` that shipped
// something, and after every pass of a real daemon.

import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually, parseExposition, sampleValue, perTest } from '../doctor/helpers.js';

const t = perTest();

const METRICS = [
  'shipper_episodes_shipped_total',
  'shipper_episodes_quarantined_total',
  'shipper_episodes_retried_total',
  'shipper_shipped_bytes_total',
  'shipper_receiver_errors_total',
  'shipper_watchdog_pings_total',
  'shipper_episodes_pending',
  'shipper_oldest_pending_age_seconds',
  'shipper_last_success_timestamp_seconds',
  'shipper_last_pass_duration_seconds',
  'shipper_last_pass_timestamp_seconds',
  'shipper_info',
];

describe('metrics.textfile', () => {
  it('--once that shipped writes a valid file describing that pass, readable by node_exporter, with no temp left', async () => {
    const w = await t.world();
    const textfile = join(w.dir, 'textfile', 'shipper.prom');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(w.dir, 'textfile'));
    await w.writeConfig({ 'metrics.textfile': textfile, 'ship.require_code_version': true });
    await w.makeEpisode('ep-1', { 'a.bin': Buffer.alloc(50_000, 3) });
    await w.makeEpisode('ep-2');
    await w.makeEpisode('ep-unstamped', {}, { meta: { episode_id: 'ep-unstamped' } });
    await w.makeEpisode('ep-recording', {}, { meta: null });
    const before = Date.now();
    const r = await w.run(['--once']);
    expect(r.code).toBe(0);
    expect(await w.list(w.shipped)).toEqual(['ep-1', 'ep-2']);

    const text = await readFile(textfile, 'utf8');
    const samples = parseExposition(text);
    for (const name of METRICS) {
      expect(text).toContain(`# HELP ${name} `);
      expect(text).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge)$`, 'm'));
    }
    expect(sampleValue(samples, 'shipper_episodes_shipped_total')).toBe(2);
    expect(sampleValue(samples, 'shipper_shipped_bytes_total')).toBeGreaterThan(100);
    expect(sampleValue(samples, 'shipper_episodes_quarantined_total', '{reason="unstamped"}')).toBe(1);
    expect(sampleValue(samples, 'shipper_episodes_pending', '{state="ready"}')).toBe(0);
    expect(sampleValue(samples, 'shipper_episodes_pending', '{state="not_ready"}')).toBe(1);
    expect(sampleValue(samples, 'shipper_watchdog_pings_total')).toBe(0);
    const lastSuccess = sampleValue(samples, 'shipper_last_success_timestamp_seconds')!;
    expect(lastSuccess * 1000).toBeGreaterThanOrEqual(before - 1000);
    expect(lastSuccess * 1000).toBeLessThanOrEqual(Date.now());
    expect(samples.find((s) => s.name === 'shipper_info')!.labels).toMatch(/^\{version="[^"]+",host_id="lab-01"\}$/);
    expect((await stat(textfile)).mode & 0o777).toBe(0o644);
    expect(await readdir(join(w.dir, 'textfile'))).toEqual(['shipper.prom']);

    // A second --once with nothing to do still says when the last success was.
    expect((await w.run(['--once'])).code).toBe(0);
    const again = parseExposition(await readFile(textfile, 'utf8'));
    expect(sampleValue(again, 'shipper_episodes_shipped_total')).toBe(0);
    expect(sampleValue(again, 'shipper_last_success_timestamp_seconds')).toBe(lastSuccess);
  });

  it('without metrics.textfile nothing is written', async () => {
    const w = await t.world();
    await w.makeEpisode('ep-1');
    expect((await w.run(['--once'])).code).toBe(0);
    expect((await readdir(w.dir)).filter((n) => n.endsWith('.prom'))).toEqual([]);
  });

  it('the daemon rewrites the file after its passes; its counters grow over the process lifetime', async () => {
    const w = await t.world();
    const textfile = join(w.dir, 'shipper.prom');
    await w.writeConfig({ 'metrics.textfile': textfile });
    const daemon = await t.daemon(w);
    await w.makeEpisode('ep-1');
    await daemon.waitFor(/event=shipped episode=ep-1 /);
    const shipped = async (n: number) => {
      const text = await readFile(textfile, 'utf8').catch(() => '');
      return text !== '' && sampleValue(parseExposition(text), 'shipper_episodes_shipped_total') === n;
    };
    await eventually(() => shipped(1), 10_000, 'shipped_total 1');
    await w.makeEpisode('ep-2');
    await w.makeEpisode('ep-3');
    await eventually(() => shipped(3), 10_000, 'shipped_total 3');
    const samples = parseExposition(await readFile(textfile, 'utf8'));
    expect(sampleValue(samples, 'shipper_last_pass_timestamp_seconds')! * 1000).toBeGreaterThan(Date.now() - 10_000);
    expect(sampleValue(samples, 'shipper_last_success_timestamp_seconds')).toBeGreaterThan(0);
    expect(await daemon.stop()).toBe(0);
  });
});
