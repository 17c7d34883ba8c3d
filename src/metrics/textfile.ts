// The metrics file for node_exporter's textfile collector (`metrics.textfile`), rewritten
// after every pass through writeFileAtomic: a temp name in the same folder, fsync, rename,
// fsync, so the collector never reads half a file. The temp name starts with `.tmp-` and
// does not end in `.prom`, so the collector ignores it. Mode 0644: node_exporter runs as
// another user.
//
// `metricsHook` is the daemon's afterPass; `writePassMetrics` serves `--once`, whose file
// describes that one pass.

import type { Config } from '../config/schema.js';
import type { PassReport } from '../queue/pass.js';
import { writeFileAtomic } from '../queue/atomic.js';
import { STATE_FILES, readState, type LastPass } from '../queue/state.js';
import { VERSION } from '../version.js';
import type { ShipperMetrics } from './metrics.js';

// prom-client costs ~50 ms and ~11 MB to load: only a host that writes the file pays it.
async function newMetrics(config: Config): Promise<ShipperMetrics> {
  const { ShipperMetrics } = await import('./metrics.js');
  return new ShipperMetrics({ version: VERSION, hostId: config.hostId });
}

/** The last success as state/last-pass.json records it (written just before), else this pass. */
async function lastSuccessMs(config: Config, r: PassReport): Promise<number | null> {
  const last = await readState<LastPass>(config.paths.state, STATE_FILES.lastPass);
  const t = last?.last_success_at ? Date.parse(last.last_success_at) : NaN;
  if (!Number.isNaN(t)) return t;
  return r.shipped.length > 0 ? r.finishedAt : null;
}

async function observeAndWrite(metrics: ShipperMetrics, file: string, config: Config, r: PassReport, watchdogPings: number, now: number): Promise<void> {
  metrics.observe(r, { watchdogPings, lastSuccessMs: await lastSuccessMs(config, r), now });
  await writeFileAtomic(file, await metrics.render(), { mode: 0o644 });
}

/**
 * The daemon's afterPass: one ShipperMetrics for the life of the process (recreated only
 * when a reload changes host_id, whose label it carries), written when metrics.textfile is set.
 */
export function metricsHook(now: () => number = Date.now): (config: Config, report: PassReport, gate: { readonly pings: number }) => Promise<void> {
  let metrics: ShipperMetrics | null = null;
  let host = '';
  return async (config, report, gate) => {
    const file = config.metrics.textfile;
    if (file === null) return;
    if (!metrics || host !== config.hostId) {
      metrics = await newMetrics(config);
      host = config.hostId;
    }
    await observeAndWrite(metrics, file, config, report, gate.pings, now());
  };
}

/** `--once`: the file says what this one pass did (its counters start at zero). */
export async function writePassMetrics(config: Config, report: PassReport, now: number = Date.now()): Promise<void> {
  const file = config.metrics.textfile;
  if (file === null) return;
  await observeAndWrite(await newMetrics(config), file, config, report, 0, now);
}
