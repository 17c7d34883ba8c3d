// Episode ids are validated before any path is built from them. Folder names a recorder (or
// an attacker with write access to episodes/) can craft are quarantined locally as
// invalid_episode_id under their own name and never sent; a hostile receiver's answer or a
// hostile requeue argument never makes the shipper touch a path outside its folders.
// Names with "/" or NUL cannot exist in a Linux directory, so `../x`, `a/b` and NUL bytes
// are tried where they can arrive: as command-line ids and in the receiver's answers.

import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pingOk, scriptedReceiver, type ScriptedReceiver } from '../helpers/scripted-receiver.js';
import { makeWorld, type World } from '../helpers/world.js';

let w: World;
let scripted: ScriptedReceiver | null = null;

beforeEach(async () => {
  w = await makeWorld({ receiver: false });
});
afterEach(async () => {
  await scripted?.close();
  scripted = null;
  await w.close();
});

const CRAFTED: (string | Buffer)[] = [
  '~',
  'a b',
  'x~2',
  '-rf',
  '_lead',
  'ep\nnewline',
  'é-accent',
  'a'.repeat(129),
  Buffer.from([0x65, 0x70, 0xff, 0xfe]),
  '%2e%2e',
  'ep%2fx',
  'a\\b',
  'ep:colon',
  'ep*',
  "ep'quote",
  'ep;touch pwned',
  '$(touch pwned)',
];

/** Every path under `dir`, as names relative to it (dirs with a trailing /). */
async function tree(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const n of (await readdir(Buffer.from(join(dir, rel), 'latin1'), { encoding: 'buffer' })) as Buffer[]) {
    const r = rel ? `${rel}/${n.toString('latin1')}` : n.toString('latin1');
    const st = await stat(Buffer.from(join(dir, r), 'latin1'));
    out.push(st.isDirectory() ? `${r}/` : r);
    if (st.isDirectory()) out.push(...(await tree(dir, r)));
  }
  return out.sort();
}

async function craft(name: string | Buffer): Promise<void> {
  const dir = Buffer.concat([Buffer.from(w.episodes + '/'), Buffer.isBuffer(name) ? name : Buffer.from(name)]);
  await mkdir(dir);
  await mkdir(Buffer.concat([dir, Buffer.from('/sub')]));
}

describe('crafted folder names in episodes/', () => {
  it('are quarantined as invalid_episode_id under their own names and never sent; dot-names are left alone', async () => {
    scripted = await scriptedReceiver(w.pki, pingOk(() => ({ status: 201 })));
    await w.writeConfig({ 'receiver.url': scripted.url });
    for (const n of CRAFTED) await craft(n);
    await craft('..dots');
    await w.makeEpisode('ep-ok');
    const outside = await tree(w.dir).then((t) => t.filter((p) => !p.startsWith('data/')));

    const r = await w.run(['--once']);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const names = CRAFTED.map((n) => (Buffer.isBuffer(n) ? n : Buffer.from(n)).toString('latin1'));
    expect((await readdir(w.quarantine, { encoding: 'buffer' })).map((b) => b.toString('latin1')).sort()).toEqual([...names].sort());
    for (const n of names) {
      const reason = join(w.quarantine, n, 'quarantine_reason.json');
      expect((await stat(Buffer.from(reason, 'latin1'))).isFile(), n).toBe(true);
    }
    expect(r.stderr.match(/reason=invalid_episode_id/g)?.length).toBe(CRAFTED.length);
    expect(await w.list(w.episodes)).toEqual(['..dots']);
    expect(await w.list(w.shipped)).toEqual(['ep-ok']);
    // Only the valid id ever reached the wire.
    expect(scripted.seen.filter((s) => s.method === 'PUT').map((s) => s.path)).toEqual(['/v1/episodes/ep-ok']);
    // Nothing appeared outside the data folder (no `pwned`, no escaped path).
    expect((await tree(w.dir)).filter((p) => !p.startsWith('data/'))).toEqual(outside);
  });
});

describe('a hostile receiver answer', () => {
  it('naming paths, ids and NUL bytes in its body and headers creates nothing outside the data folders', async () => {
    const body = JSON.stringify({ error: '../../../../tmp/pwned', detail: 'id=../x a/b .. ~ \u0000 /etc/passwd', id: '../../escape', stored: '/etc/shadow' });
    scripted = await scriptedReceiver(w.pki, pingOk((req) => ({
      status: req.path.endsWith('/ep-a') ? 400 : 201,
      headers: { location: '../../../escape', 'content-disposition': 'attachment; filename="../../x"', 'x-episode-id': '../x' },
      body,
    })));
    await w.writeConfig({ 'receiver.url': scripted.url });
    await w.makeEpisode('ep-a');
    await w.makeEpisode('ep-b');
    const before = await tree(w.dir);
    const r = await w.run(['--once']);
    expect(r.code).toBe(0);
    expect(await w.list(w.quarantine)).toEqual(['ep-a']);
    expect(await w.list(w.shipped)).toEqual(['ep-b']);
    const after = await tree(w.dir);
    const added = after.filter((p) => !before.includes(p));
    for (const p of added) expect(p, p).toMatch(/^data\/(shipped|quarantine|state|outbox)\//);
  });
});

describe('hostile ids on the command line', () => {
  it('requeue refuses ../x, a/b, .., ~ and a NUL-free lookalike, and moves nothing', async () => {
    await w.writeConfig();
    await mkdir(join(w.quarantine, 'ep-1'), { recursive: true });
    await mkdir(join(w.dir, 'x'));
    for (const f of [w.outbox, w.shipped, w.state]) await mkdir(f, { recursive: true });
    const before = await tree(w.dir);
    for (const id of ['../x', 'a/b', '..', '~', '../../etc', 'ep-1/../../x']) {
      const r = await w.run(['requeue', id]);
      expect(r.code, `requeue ${id}: ${r.stdout}${r.stderr}`).not.toBe(0);
      expect(r.stderr).not.toMatch(/internal error/);
    }
    expect((await tree(w.dir)).filter((p) => !p.startsWith('data/state/'))).toEqual(before.filter((p) => !p.startsWith('data/state/')));
  });
});
