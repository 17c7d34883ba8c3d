import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Scanner, judgeMeta } from '../../src/queue/scan.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shipper-scan-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const NOW = Date.now();
const COMMIT = 'a'.repeat(40);

async function ep(name: string | Buffer, meta: string | null, ageMs = 60_000): Promise<void> {
  const d = Buffer.isBuffer(name) ? Buffer.concat([Buffer.from(dir + '/'), name]) : join(dir, name);
  await mkdir(d);
  const t = new Date(NOW - ageMs);
  if (meta !== null) {
    const m = Buffer.isBuffer(d) ? Buffer.concat([d, Buffer.from('/meta.json')]) : join(d, 'meta.json');
    await writeFile(m, meta);
    await utimes(m, t, t);
  }
  await utimes(d, t, t);
}

function scanner(over: Partial<{ settleMs: number; requireCodeVersion: boolean; readyMarker: string }> = {}) {
  return new Scanner({ episodes: dir, readyMarker: 'meta.json', settleMs: 10_000, requireCodeVersion: false, ...over });
}

describe('the scan of episodes/', () => {
  it('sorts a mixed folder into ready, unsettled, not ready, ignored and local rejects', async () => {
    await ep('ready-2', '{}', 120_000);
    await ep('ready-1', `{"code_version":{"commit":"${COMMIT}"}}`, 180_000);
    await ep('young', '{}', 1000);
    await ep('no-marker', null);
    await ep('.tmp-recording', '{}');
    await ep('bad name!', '{}');
    await ep('bad-meta', '{not json');
    await writeFile(join(dir, 'stray-file'), 'x');
    await symlink('/etc', join(dir, 'a-link'));
    const r = await scanner().scan(NOW);
    expect(r.ready.map((e) => e.id)).toEqual(['ready-1', 'ready-2']); // oldest marker first
    expect(r.unsettled).toBe(1);
    expect(r.notReady).toBe(1);
    expect(r.rejects.map((x) => [x.name.toString(), x.reason])).toEqual([
      ['bad name!', 'invalid_episode_id'],
      ['bad-meta', 'invalid_meta'],
    ]);
    expect(Math.abs(r.oldestReadyMs! - (NOW - 180_000))).toBeLessThan(2); // mtimes round to the filesystem's precision
  });

  it('rejects an invalid id once the folder has settled, marker or not, and handles non-UTF-8 names', async () => {
    await ep(Buffer.from([0x65, 0x70, 0xff]), null, 60_000);
    await ep('-starts-with-dash', null, 60_000);
    await ep('x'.repeat(129), null, 60_000);
    await ep('fresh bad', null, 100);
    const r = await scanner().scan(NOW);
    expect(r.rejects.map((x) => x.reason)).toEqual(['invalid_episode_id', 'invalid_episode_id', 'invalid_episode_id']);
    expect(r.rejects.some((x) => x.name.equals(Buffer.from([0x65, 0x70, 0xff])))).toBe(true);
    expect(r.unsettled).toBe(1);
  });

  it('with require_code_version, marks episodes without a 40-hex commit as unstamped', async () => {
    await ep('stamped', `{"code_version":{"commit":"${COMMIT}"}}`);
    await ep('short', '{"code_version":{"commit":"abc"}}');
    await ep('none', '{}');
    const r = await scanner({ requireCodeVersion: true }).scan(NOW);
    expect(r.ready.map((e) => e.id)).toEqual(['stamped']);
    expect(r.rejects.map((x) => [x.name.toString(), x.reason]).sort()).toEqual([
      ['none', 'unstamped'],
      ['short', 'unstamped'],
    ]);
  });

  it('honours another ready marker, and checks meta.json only when it is there', async () => {
    await mkdir(join(dir, 'ep-1'));
    await writeFile(join(dir, 'ep-1', 'DONE'), '');
    await utimes(join(dir, 'ep-1', 'DONE'), new Date(NOW - 60_000), new Date(NOW - 60_000));
    await ep('ep-2', '{}');
    const r = await scanner({ readyMarker: 'DONE' }).scan(NOW);
    expect(r.ready.map((e) => e.id)).toEqual(['ep-1']);
    expect(r.notReady).toBe(1);
  });

  it('leaves an episode that carries a reason file to recovery', async () => {
    await ep('ep-1', '{}');
    await writeFile(join(dir, 'ep-1', 'quarantine_reason.json'), '{}');
    const r = await scanner().scan(NOW);
    expect(r.ready).toEqual([]);
    expect(r.rejects).toEqual([]);
  });
});

describe('meta.json', () => {
  it('must be a JSON object; the commit counts only when it is 40 hex digits', () => {
    expect(judgeMeta('{}')).toEqual({ ok: true, commit: null });
    expect(judgeMeta(`{"code_version":{"commit":"${COMMIT}"}}`)).toEqual({ ok: true, commit: COMMIT });
    expect(judgeMeta('{"code_version":{"commit":"zz"}}')).toEqual({ ok: true, commit: null });
    expect(judgeMeta('[1]')).toMatchObject({ ok: false });
    expect(judgeMeta('nope')).toMatchObject({ ok: false, detail: expect.stringContaining('not valid JSON') });
  });
});
