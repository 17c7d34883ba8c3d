// `ship.max_bytes_per_s`: one episode of incompressible bytes (so the archive is about as
// large as the episode) shipped with the limit set; the achieved rate is the archive's
// bytes over the upload's duration as the shipper logs it (`event=shipped ... ms=`: from
// the request's start to the receiver's answer). Then two episodes of half the size at
// once (ship.concurrency = 2): the bucket is shared, so together they must keep to the
// same rate — bytes of both over the span from the first upload's start to the last one's end.

import { median, MB } from './table.mjs';

/** Every `event=shipped` line of a shipper log: bytes, upload ms, and when it ended (epoch ms). */
export function shippedLines(log) {
  const out = [];
  for (const line of log.split('\n')) {
    if (!line.includes('event=shipped')) continue;
    const bytes = /\bbytes=(\d+)/.exec(line);
    const ms = /\bms=(\d+)/.exec(line);
    const at = /^(\S+Z) /.exec(line);
    if (bytes && ms && at) out.push({ bytes: Number(bytes[1]), ms: Number(ms[1]), endMs: Date.parse(at[1]) });
  }
  if (out.length === 0) throw new Error(`bench: no shipped line with bytes= and ms= in:\n${log.slice(-2000)}`);
  return out;
}

/** Archive bytes over the span from the first upload's start to the last upload's end, MB/s. */
function aggregateRate(lines) {
  const start = Math.min(...lines.map((l) => l.endMs - l.ms));
  const end = Math.max(...lines.map((l) => l.endMs));
  return lines.reduce((a, l) => a + l.bytes, 0) / MB / ((end - start) / 1000);
}

export async function throttle(world, { sets, rate, runs, log }) {
  await world.writeConfig({ max_bytes_per_s: Math.round(rate) });
  const out = {};
  try {
    for (const [name, set] of Object.entries(sets)) {
      const rates = [];
      for (let i = 0; i < runs; i++) {
        await world.stage(set.dir, set.ids);
        let r;
        try {
          r = await world.once(`throttle-${name}-shipper`);
        } finally {
          await world.unstage(set.dir);
        }
        const lines = shippedLines(r.log);
        if (lines.length !== set.ids.length) throw new Error(`bench: throttle ${name}: ${lines.length} of ${set.ids.length} episodes shipped`);
        rates.push(aggregateRate(lines));
        log(`  throttle ${name}: ${lines.length} upload(s), ${(lines.reduce((a, l) => a + l.bytes, 0) / MB).toFixed(0)} MB at ${rates.at(-1).toFixed(2)} MB/s`);
      }
      out[name] = { mb_s: median(rates), runs: rates };
    }
  } finally {
    await world.writeConfig({});
  }
  return out;
}
