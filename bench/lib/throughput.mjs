// The throughput scenarios: the same dataset shipped by the operator's shell loop and by
// `shipper --once`, in alternating order run after run (A B, B A, …) so that a machine
// whose speed drifts hurts both alike; the ratio is taken pair by pair, then the median.
// After every run the receiver must hold exactly the episodes of the dataset.

import { readFileSync } from 'node:fs';
import { median, MB } from './table.mjs';

/**
 * CPU seconds of a process and of the children it has reaped (utime+stime+cutime+cstime
 * from /proc/<pid>/stat; 0 where there is no /proc): for the receiver that includes the
 * `zstd -dc` it runs per upload to validate it.
 */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100; // fields 14-17; USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

async function check(world, ids, what) {
  const got = await world.stored();
  const want = ids.map((id) => `${id}.tar.zst`).sort();
  if (got.join('\n') !== want.join('\n')) throw new Error(`bench: after ${what} the receiver holds ${got.length} of ${want.length} episodes`);
}

/**
 * Ship dataset `set` (`ids` under `setDir`, `inputBytes` of files) `runs` times each way.
 * `url` picks the receiver or the sink. Returns per-run figures and their medians.
 */
export async function pair(world, { name, setDir, ids, inputBytes, runs, url, level, log }) {
  const rows = { baseline: [], shipper: [], ratio: [] };
  await world.writeConfig({}, url);
  const receiverPid = url === world.receiver.url ? world.receiver.child.pid : world.sink.child.pid;
  const one = async (who) => {
    const cpu0 = cpuSeconds(receiverPid);
    let r;
    if (who === 'baseline') {
      await world.clearStore();
      r = await world.baseline(`${name}-baseline`, setDir, ids, { url, level });
      if (url === world.receiver.url) await check(world, ids, `the baseline of ${name}`);
      await world.clearStore();
    } else {
      await world.stage(setDir, ids);
      try {
        r = await world.once(`${name}-shipper`);
        if (url === world.receiver.url) await check(world, ids, `the shipper's pass of ${name}`);
      } finally {
        await world.unstage(setDir);
      }
    }
    const fig = { wall_s: r.wall_s, cpu_s: r.user_s + r.sys_s, maxrss_mb: (r.maxrss_kib * 1024) / MB, receiver_cpu_s: cpuSeconds(receiverPid) - cpu0 };
    rows[who].push(fig);
    log(`  ${name} ${who.padEnd(8)} ${fig.wall_s.toFixed(2)} s  ${(inputBytes / MB / fig.wall_s).toFixed(0)} MB/s  cpu ${fig.cpu_s.toFixed(1)} s  receiver cpu ${fig.receiver_cpu_s.toFixed(1)} s  rss ${fig.maxrss_mb.toFixed(0)} MB`);
    return fig;
  };
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ['baseline', 'shipper'] : ['shipper', 'baseline'];
    const got = {};
    for (const who of order) got[who] = await one(who);
    rows.ratio.push(got.baseline.wall_s / got.shipper.wall_s);
  }
  const med = (who, k) => median(rows[who].map((f) => f[k]));
  return {
    runs: rows,
    shipper: { wall_s: med('shipper', 'wall_s'), cpu_s: med('shipper', 'cpu_s'), maxrss_mb: med('shipper', 'maxrss_mb'), receiver_cpu_s: med('shipper', 'receiver_cpu_s') },
    baseline: { wall_s: med('baseline', 'wall_s'), cpu_s: med('baseline', 'cpu_s'), maxrss_mb: med('baseline', 'maxrss_mb'), receiver_cpu_s: med('baseline', 'receiver_cpu_s') },
    ratio: median(rows.ratio),
  };
}

/** `shipper --once` alone over a dataset, `runs` times: peak RSS and wall time. */
export async function solo(world, { name, setDir, ids, runs, log }) {
  await world.writeConfig({});
  const figs = [];
  for (let i = 0; i < runs; i++) {
    await world.stage(setDir, ids);
    try {
      const r = await world.once(`${name}-shipper`);
      await check(world, ids, `the shipper's pass of ${name}`);
      figs.push({ wall_s: r.wall_s, maxrss_mb: (r.maxrss_kib * 1024) / MB, log: r.log });
      log(`  ${name} shipper  ${r.wall_s.toFixed(2)} s  rss ${((r.maxrss_kib * 1024) / MB).toFixed(0)} MB`);
    } finally {
      await world.unstage(setDir);
    }
  }
  return figs;
}
