import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Paths } from '../../src/config/schema.js';
import { makeReason } from '../../src/queue/quarantine.js';
import { recover } from '../../src/queue/recover.js';

let root: string;
let p: Paths;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'shipper-recover-'));
  p = {
    dataDir: root,
    episodes: join(root, 'episodes'),
    outbox: join(root, 'outbox'),
    shipped: join(root, 'shipped'),
    quarantine: join(root, 'quarantine'),
    state: join(root, 'state'),
  };
  for (const d of [p.episodes, p.outbox, p.shipped, p.quarantine, p.state]) await mkdir(d);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const ls = async (d: string) => (await readdir(d)).sort();
async function episode(dir: string, name: string): Promise<void> {
  await mkdir(join(dir, name));
  await writeFile(join(dir, name, 'meta.json'), '{}');
}

describe('recovery after a crash', () => {
  it('removes temp files in outbox/ and state/', async () => {
    await writeFile(join(p.outbox, '.tmp-ep-1-123-abcd'), 'half an archive');
    await writeFile(join(p.state, '.tmp-retry.json-1-ff'), '{');
    const r = await recover(p);
    expect(r.tempsRemoved).toBe(2);
    expect(await ls(p.outbox)).toEqual([]);
    expect(await ls(p.state)).toEqual([]);
  });

  it('keeps a complete archive whose episode still waits, and drops one whose episode is gone', async () => {
    await episode(p.episodes, 'ep-1');
    await episode(p.shipped, 'ep-2');
    for (const id of ['ep-1', 'ep-2']) {
      await writeFile(join(p.outbox, `${id}.tar.zst`), 'x');
      await writeFile(join(p.outbox, `${id}.pack.json`), '{}');
    }
    const r = await recover(p);
    expect(r).toMatchObject({ archivesKept: 1, archivesDropped: 1 });
    expect(await ls(p.outbox)).toEqual(['ep-1.pack.json', 'ep-1.tar.zst']);
    expect(await ls(p.shipped)).toEqual(['ep-2']);
  });

  it('drops half a pair: an archive without sidecar and a sidecar without archive', async () => {
    await episode(p.episodes, 'ep-1');
    await episode(p.episodes, 'ep-2');
    await writeFile(join(p.outbox, 'ep-1.tar.zst'), 'x');
    await writeFile(join(p.outbox, 'ep-2.pack.json'), '{}');
    const r = await recover(p);
    expect(r.archivesDropped).toBe(2);
    expect(await ls(p.outbox)).toEqual([]);
    expect(await ls(p.episodes)).toEqual(['ep-1', 'ep-2']);
  });

  it('finishes a quarantine whose reason was written but whose folder was not moved', async () => {
    await episode(p.episodes, 'ep-1');
    const reason = makeReason(Buffer.from('ep-1'), 'lab-01', { reason: 'receiver_rejected', httpStatus: 412 }, new Date());
    await writeFile(join(p.episodes, 'ep-1', 'quarantine_reason.json'), JSON.stringify(reason));
    await writeFile(join(p.outbox, 'ep-1.tar.zst'), 'x');
    await writeFile(join(p.outbox, 'ep-1.pack.json'), '{}');
    await episode(p.quarantine, 'ep-1'); // an older namesake: the newcomer gets a suffix
    const r = await recover(p);
    expect(r.quarantinesFinished).toBe(1);
    expect(await ls(p.episodes)).toEqual([]);
    expect(await ls(p.quarantine)).toEqual(['ep-1', 'ep-1~2']);
    expect(await ls(join(p.quarantine, 'ep-1~2'))).toEqual(['meta.json', 'quarantine_reason.json']);
    expect(await ls(p.outbox)).toEqual([]);
  });

  it('leaves alone a recorder file that merely has the reason file name', async () => {
    await episode(p.episodes, 'ep-1');
    await writeFile(join(p.episodes, 'ep-1', 'quarantine_reason.json'), '{"note": "the recorder wrote this"}');
    const r = await recover(p);
    expect(r.quarantinesFinished).toBe(0);
    expect(await ls(p.episodes)).toEqual(['ep-1']);
  });

  it('finishes a requeue that was cut short, and undoes one whose id is taken', async () => {
    await episode(p.quarantine, '.requeue-ep-1~3');
    await writeFile(join(p.quarantine, '.requeue-ep-1~3', 'quarantine_reason.json'), '{}');
    await episode(p.quarantine, '.requeue-ep-2');
    await episode(p.episodes, 'ep-2');
    const r = await recover(p);
    expect(r.requeuesFinished).toBe(2);
    expect(await ls(p.episodes)).toEqual(['ep-1', 'ep-2']);
    expect(await ls(join(p.episodes, 'ep-1'))).toEqual(['meta.json']);
    expect(await ls(p.quarantine)).toEqual(['ep-2']);
  });

  it('finishes the removal of pruned folders', async () => {
    await episode(p.shipped, '.deleting-ep-1');
    await episode(p.quarantine, '.deleting-ep-2');
    const r = await recover(p);
    expect(r.deletionsFinished).toBe(2);
    expect(await ls(p.shipped)).toEqual([]);
    expect(await ls(p.quarantine)).toEqual([]);
  });

  it('does nothing on tidy folders and can run twice', async () => {
    await episode(p.episodes, 'ep-1');
    const first = await recover(p);
    const second = await recover(p);
    expect(first).toEqual(second);
    expect(Object.values(first).every((v) => v === 0)).toBe(true);
  });
});
