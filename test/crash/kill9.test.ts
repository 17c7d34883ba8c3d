// Crash safety proven on a real process: `shipper --once` killed with SIGKILL at random
// instants while it ships a few dozen episodes, again and again; then one clean pass. Every
// episode must end in shipped/ exactly once, the receiver must hold each one intact, and
// no temp or outbox file may remain.

import { randomBytes } from 'node:crypto';
import { cp, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeWorld, runChild, type World } from '../helpers/world.js';
import { storedEquals } from '../helpers/tree.js';

const BATCH = 12;
const KILLS = 50;

let w: World;
beforeAll(async () => {
  w = await makeWorld();
});
afterAll(async () => {
  await w.close();
});

function rand(n: number): number {
  return Math.floor(Math.random() * n);
}

it(`loses nothing when --once is killed with SIGKILL ${KILLS} times at random instants`, async () => {
  const reference = join(w.dir, 'reference');
  await mkdir(reference);
  const ids: string[] = [];
  // Episodes come in batches: a new batch whenever the last one is all shipped, so that
  // every kill lands while there is work in flight.
  const addBatch = async () => {
    for (let b = 0; b < BATCH; b++) {
      const i = ids.length;
      const id = `ep-${String(i).padStart(3, '0')}`;
      const files: Record<string, Buffer | string> = {
        'telemetry/values.jsonl': Array.from({ length: 200 + rand(5000) }, (_, k) => JSON.stringify({ t: k, v: Math.random() })).join('\n'),
        'raw.bin': randomBytes(rand(1_500_000)),
      };
      if (i % 3 === 0) files['nested/deeper/notes.txt'] = `episode ${i}\n`;
      await w.makeEpisode(id, files);
      await cp(join(w.episodes, id), join(reference, id), { recursive: true, preserveTimestamps: true });
      ids.push(id);
    }
  };
  await addBatch();

  const seen = { outboxArchives: 0, temps: 0, shippedBetween: new Set<number>() };
  for (let k = 0; k < KILLS; k++) {
    const child = w.spawn(['--once']);
    const done = runChild(child, { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 50 + rand(1200)));
    child.kill('SIGKILL');
    await done;
    const outbox = await readdir(w.outbox).catch(() => [] as string[]);
    if (outbox.some((n) => n.endsWith('.tar.zst') && !n.startsWith('.'))) seen.outboxArchives++;
    if (outbox.some((n) => n.startsWith('.tmp-'))) seen.temps++;
    seen.shippedBetween.add((await readdir(w.shipped).catch(() => [])).length);
    if ((await w.list(w.episodes)).length === 0) await addBatch();
  }
  // The kills landed in different phases: packs cut short, archives waiting, partial progress.
  expect(seen.shippedBetween.size).toBeGreaterThan(1);

  const final = await w.run(['--once'], { timeoutMs: 120_000 });
  expect(final.stderr).not.toMatch(/internal error/);
  expect(final.code, `${final.stdout}\n${final.stderr}`).toBe(0);

  expect(await w.list(w.shipped)).toEqual(ids);
  expect(await w.list(w.episodes)).toEqual([]);
  expect(await w.list(w.quarantine)).toEqual([]);
  expect(await w.list(w.outbox)).toEqual([]);
  expect((await w.list(w.state)).filter((n) => n.startsWith('.'))).toEqual([]);
  expect(await w.stored()).toEqual(ids.map((id) => `${id}.tar.zst`));
  expect((await readdir(join(w.store, 'lab-01'), { withFileTypes: true })).filter((d) => d.name.startsWith('.'))).toEqual([]);
  for (const id of ids) {
    expect(await storedEquals(join(w.store, 'lab-01', `${id}.tar.zst`), id, join(reference, id)), id).toBeNull();
    expect(await storedEquals(join(w.store, 'lab-01', `${id}.tar.zst`), id, join(w.shipped, id)), id).toBeNull();
  }
  process.stdout.write(
    `kill -9 torture: ${KILLS} kills over ${ids.length} episodes, archives waiting in outbox after ${seen.outboxArchives}, temp files after ${seen.temps}, ` +
      `shipped counts seen between kills: ${[...seen.shippedBetween].sort((a, b) => a - b).join(',')}\n`,
  );
}, 300_000);
