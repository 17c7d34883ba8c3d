// `ship.max_bytes_per_s`: one episode of incompressible bytes (so the archive is about as
// large as the episode) shipped with the limit set; the achieved rate is the archive's
// bytes over the upload's duration as the shipper logs it (`event=shipped ... ms=`: from
// the request's start to the receiver's answer).

import { median, MB } from './table.mjs';

/** `bytes` and `ms` of the first `event=shipped` line of a shipper log. */
export function shippedLine(log) {
  const line = log.split('\n').find((l) => l.includes('event=shipped'));
  const bytes = line && /\bbytes=(\d+)/.exec(line);
  const ms = line && /\bms=(\d+)/.exec(line);
  if (!bytes || !ms) throw new Error(`bench: no shipped line with bytes= and ms= in:\n${log.slice(-2000)}`);
  return { bytes: Number(bytes[1]), ms: Number(ms[1]) };
}

export async function throttle(world, { setDir, ids, rate, runs, log }) {
  await world.writeConfig({ max_bytes_per_s: Math.round(rate) });
  const rates = [];
  try {
    for (let i = 0; i < runs; i++) {
      await world.stage(setDir, ids);
      let r;
      try {
        r = await world.once('throttle-shipper');
      } finally {
        await world.unstage(setDir);
      }
      const { bytes, ms } = shippedLine(r.log);
      rates.push(bytes / MB / (ms / 1000));
      log(`  throttle ${(bytes / MB).toFixed(0)} MB in ${(ms / 1000).toFixed(2)} s = ${rates.at(-1).toFixed(2)} MB/s`);
    }
  } finally {
    await world.writeConfig({});
  }
  return { mb_s: median(rates), runs: rates };
}
