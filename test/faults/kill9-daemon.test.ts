// The kill -9 torture of test/crash/kill9.test.ts, against the DAEMON, with the fault proxy
// on the path (resets, stalls, early and dropped answers, garbage, delayed handshakes): the
// daemon is killed with SIGKILL at random instants again and again while it ships batches
// of episodes; then the faults stop and one daemon runs until the backlog is gone. Every
// episode must be in shipped/ exactly once, stored intact, and no temp file may remain.
// (`npm run soak -- --minutes 8 --kill-every 2` runs the same for 200+ kills.)

import { randomBytes, randomInt } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { RequestFault } from '../helpers/fault-proxy.mjs';
import { killAll, sleep, startDaemon, until } from '../helpers/daemon.js';
import { addEpisode, expectAllShipped, makeFaultWorld, type FaultWorld } from './helpers.js';

const KILLS = 40;
const BATCH = 8;
const FAULT_RATE = 0.2;

let fw: FaultWorld;
beforeAll(async () => {
  fw = await makeFaultWorld(
    { 'receiver.connect_timeout_s': 1, 'receiver.idle_timeout_s': 2, 'retry.initial_s': 0.2, 'retry.max_s': 1, 'ship.scan_interval_s': 0.2 },
    {
      connection: () => (Math.random() < FAULT_RATE / 3 ? (Math.random() < 0.5 ? { kind: 'reset' } : { kind: 'delay', ms: randomInt(50, 800) }) : { kind: 'pass' }),
      request: (r) => {
        if (Math.random() >= FAULT_RATE) return { kind: 'pass' };
        const at = randomInt(0, Math.max(1, r.length));
        const faults: RequestFault[] = [
          { kind: 'reset', afterBytes: at },
          { kind: 'stall', afterBytes: at },
          { kind: 'early', afterBytes: at, status: 503 },
          { kind: 'drop' },
          { kind: 'garbage', bytes: 100 },
          { kind: 'truncated', keep: randomInt(1, 80) },
        ];
        return faults[randomInt(faults.length)]!;
      },
    },
  );
});
afterEach(async () => {
  await killAll();
});
afterAll(async () => {
  await fw?.close();
});

it(`loses nothing when the daemon is killed with SIGKILL ${KILLS} times at random instants behind a faulty path`, async () => {
  const { w, proxy } = fw;
  let next = 0;
  const addBatch = async () => {
    for (let b = 0; b < BATCH; b++) {
      const id = `ep-${String(next++).padStart(3, '0')}`;
      await addEpisode(fw, id, {
        'raw.bin': randomBytes(randomInt(1, 600_000)),
        'telemetry/values.csv': Array.from({ length: randomInt(1, 3000) }, (_, k) => `${k},${Math.random()}`).join('\n'),
        ...(next % 3 === 0 ? { 'nested/deeper/notes.txt': `episode ${id}\n` } : {}),
      });
    }
  };
  await addBatch();

  const seen = { archivesWaiting: 0, temps: 0, shippedCounts: new Set<number>() };
  for (let k = 0; k < KILLS; k++) {
    const d = startDaemon(w);
    await sleep(randomInt(400, 3000));
    await d.stop('SIGKILL');
    const outbox = await readdir(w.outbox).catch(() => [] as string[]);
    if (outbox.some((n) => n.endsWith('.tar.zst') && !n.startsWith('.'))) seen.archivesWaiting++;
    if (outbox.some((n) => n.startsWith('.tmp-'))) seen.temps++;
    seen.shippedCounts.add((await w.list(w.shipped)).length);
    if ((await w.list(w.episodes)).length === 0) await addBatch();
  }
  // The kills landed in different phases: packs cut short, archives waiting, partial progress.
  expect(seen.shippedCounts.size).toBeGreaterThan(2);

  proxy.setPlan({});
  const d = startDaemon(w);
  await until('the backlog to ship', async () => (await w.list(w.episodes)).length === 0, 90_000, 200);
  const exit = await d.stop('SIGTERM');
  expect(exit.code).toBe(0);
  expect(d.lines.join('\n')).not.toMatch(/internal error/);
  await expectAllShipped(fw);
  expect((await w.list(w.state)).filter((n) => n.startsWith('.'))).toEqual([]);
  expect(await w.list(w.outbox)).toEqual([]);
  process.stdout.write(
    `kill -9 daemon torture: ${KILLS} kills over ${fw.ids.length} episodes behind the fault proxy (${JSON.stringify(proxy.stats.byFault)}); ` +
      `archives waiting after ${seen.archivesWaiting} kills, temp files after ${seen.temps}; shipped counts seen: ${[...seen.shippedCounts].sort((a, b) => a - b).join(',')}\n`,
  );
}, 240_000);
