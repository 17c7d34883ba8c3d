// `shipper --once` end to end: the real CLI as a child process against the real reference
// receiver (or a scripted one for the answers the reference never gives), on real folders.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeReason, writeReason } from '../../src/queue/quarantine.js';
import { defaultMeta, makeWorld, type World } from '../helpers/world.js';
import { pingOk, scriptedReceiver, type ScriptedReceiver } from '../helpers/scripted-receiver.js';
import { storedEquals } from '../helpers/tree.js';

let w: World;
let scripted: ScriptedReceiver | null = null;

beforeEach(async () => {
  w = await makeWorld();
});
afterEach(async () => {
  await scripted?.close();
  scripted = null;
  await w.close();
});

async function reasonOf(name: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(w.quarantine, name, 'quarantine_reason.json'), 'utf8')) as Record<string, unknown>;
}

async function useScripted(put: Parameters<typeof pingOk>[0]): Promise<ScriptedReceiver> {
  scripted = await scriptedReceiver(w.pki, pingOk(put));
  await w.writeConfig({ 'receiver.url': scripted.url });
  return scripted;
}

describe('a pass over a mixed folder', () => {
  it('ships the ready, waits for the unsettled, ignores dot-names and quarantines bad ids and bad meta locally', async () => {
    await w.writeConfig({ 'ship.settle_s': 30 });
    await w.makeEpisode('ep-1', { 'telemetry/imu.csv': 'a,b\n1,2\n', 'logs/run.log': 'started\n' });
    await w.makeEpisode('ep-2', { 'big.bin': Buffer.alloc(3 * 1024 * 1024, 1), '.hidden': 'dot-files ship too' });
    await w.makeEpisode('ep-3', {});
    await w.makeEpisode('ep-young', {}, { ageMs: 1000 });
    await w.makeEpisode('.tmp-recording', {});
    await w.makeEpisode('no marker', {}, { meta: null });
    await w.makeEpisode('bad id!', {});
    await w.makeEpisode('ep-badmeta', {}, { meta: '{"episode_id": ' });
    // The folder mtime of the marker-less invalid id must be old enough to count as settled.
    const { utimes } = await import('node:fs/promises');
    const old = new Date(Date.now() - 120_000);
    await utimes(join(w.episodes, 'no marker'), old, old);

    const r = await w.run(['--once']);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^shipped 3, quarantined 3, left for retry 0, .* \(1 not ready yet\)$/m);
    expect(r.stdout).toMatch(/^quarantined bad id!: invalid_episode_id: /m);
    expect(r.stdout).toMatch(/^quarantined ep-badmeta: invalid_meta: meta.json is not valid JSON/m);

    expect(await w.list(w.shipped)).toEqual(['ep-1', 'ep-2', 'ep-3']);
    expect(await w.list(w.episodes)).toEqual(['.tmp-recording', 'ep-young']);
    expect(await w.list(w.quarantine)).toEqual(['bad id!', 'ep-badmeta', 'no marker']);
    expect(await w.list(w.outbox)).toEqual([]);
    expect(await reasonOf('ep-badmeta')).toMatchObject({ reason: 'invalid_meta', http_status: null, host_id: 'lab-01' });
    expect(await reasonOf('bad id!')).toMatchObject({ reason: 'invalid_episode_id', episode_id: 'bad id!' });

    // What the receiver holds extracts to trees equal to the sources.
    expect(await w.stored()).toEqual(['ep-1.tar.zst', 'ep-2.tar.zst', 'ep-3.tar.zst']);
    for (const id of ['ep-1', 'ep-2', 'ep-3']) {
      expect(await storedEquals(join(w.store, 'lab-01', `${id}.tar.zst`), id, join(w.shipped, id))).toBeNull();
    }
  });

  it('exits 0 with nothing ready, and with only unsettled episodes', async () => {
    const empty = await w.run(['--once']);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toMatch(/^shipped 0, quarantined 0, left for retry 0/m);
    await w.writeConfig({ 'ship.settle_s': 60 });
    await w.makeEpisode('ep-1', {}, { ageMs: 0 });
    const unsettled = await w.run(['--once']);
    expect(unsettled.code).toBe(0);
    expect(await w.list(w.episodes)).toEqual(['ep-1']);
  });

  it('gives a newcomer whose name is taken in shipped/ the suffix ~2', async () => {
    await mkdir(join(w.shipped, 'ep-1'), { recursive: true });
    await w.makeEpisode('ep-1');
    const r = await w.run(['--once']);
    expect(r.code).toBe(0);
    expect(await w.list(w.shipped)).toEqual(['ep-1', 'ep-1~2']);
    expect(await readdir(join(w.shipped, 'ep-1'))).toEqual([]);
  });
});

describe('what each answer does to the episode and the exit code', () => {
  it('412 from the receiver for one episode and 201 for the rest: that one is quarantined with the answer', async () => {
    await w.stopReceiver();
    await w.startReceiver({ windowDays: 7 });
    await w.writeConfig();
    await w.makeEpisode('ep-ok-1');
    await w.makeEpisode('ep-old', {}, { meta: { ...defaultMeta('ep-old'), ended_at: '2020-01-01T00:00:00Z' } });
    await w.makeEpisode('ep-ok-2');
    const r = await w.run(['--once']);
    expect(r.code).toBe(0);
    expect(await w.list(w.shipped)).toEqual(['ep-ok-1', 'ep-ok-2']);
    expect(await w.list(w.quarantine)).toEqual(['ep-old']);
    const reason = await reasonOf('ep-old');
    expect(reason).toMatchObject({ episode_id: 'ep-old', reason: 'receiver_rejected', http_status: 412, host_id: 'lab-01' });
    expect(typeof reason.receiver_body).toBe('string');
    expect((reason.receiver_body as string).length).toBeGreaterThan(0);
    expect(reason.archive_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(reason.archive_bytes).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/^quarantined ep-old: receiver_rejected \(412\)/m);
    expect(await w.list(w.outbox)).toEqual([]);
  });

  it('401 at the ping (no token): nothing moves, exit 77, the message says what to check', async () => {
    await w.stopReceiver();
    await w.startReceiver({ tokens: ['right-token-1234'] });
    await w.writeConfig();
    await w.makeEpisode('ep-1');
    const r = await w.run(['--once']);
    expect(r.code).toBe(77);
    expect(r.stdout).toMatch(/stopped: ping: .* refused our credentials with 401/);
    expect(await w.list(w.episodes)).toEqual(['ep-1']);
    expect(await w.list(w.quarantine)).toEqual([]);
    expect(await w.stored()).toEqual([]);
  });

  it('403 (a wrong token): nothing moves, exit 77, and the token is never printed', async () => {
    await w.stopReceiver();
    await w.startReceiver({ tokens: ['right-token-1234'] });
    const token = join(w.dir, 'token');
    await writeFile(token, 'wrong-token-5678\n', { mode: 0o600 });
    await w.writeConfig({ 'receiver.token_file': token });
    await w.makeEpisode('ep-1');
    const r = await w.run(['--once']);
    expect(r.code).toBe(77);
    expect(r.stdout + r.stderr).not.toContain('wrong-token-5678');
    expect(await w.list(w.episodes)).toEqual(['ep-1']);
  });

  it('a wrong URL prefix (404 at the ping): nothing moves, exit 69, the message suspects the URL', async () => {
    await w.writeConfig({ 'receiver.url': `${w.url}/wrong-prefix` });
    await w.makeEpisode('ep-1');
    const r = await w.run(['--once']);
    expect(r.code).toBe(69);
    expect(r.stdout).toMatch(/answered 404.*wrong receiver.url/);
    expect(await w.list(w.episodes)).toEqual(['ep-1']);
    expect(await w.list(w.quarantine)).toEqual([]);
  });

  it('a receiver that is down: nothing moves, exit 69, the message names the refusal', async () => {
    await w.stopReceiver();
    await w.makeEpisode('ep-1');
    const r = await w.run(['--once']);
    expect(r.code).toBe(69);
    expect(r.stdout).toMatch(/nothing is listening at https:\/\/127\.0\.0\.1:\d+ \(connection refused\)/);
    expect(await w.list(w.episodes)).toEqual(['ep-1']);
    // The archive made before the failure is kept for the next pass.
  });

  it('a ping that fails while a PUT would succeed: nothing is sent, nothing moves', async () => {
    const s = await useScripted(() => ({ status: 201 }));
    s.answer = (req) => (req.path.endsWith('/v1/ping') ? { status: 503 } : { status: 201 });
    await w.makeEpisode('ep-1');
    const r = await w.run(['--once']);
    expect(r.code).toBe(75);
    expect(s.seen.map((x) => x.method)).toEqual(['POST']);
    expect(await w.list(w.episodes)).toEqual(['ep-1']);
  });

  it('503 with Retry-After: the episode stays, exit 75, and the retry time is saved', async () => {
    const s = await useScripted(() => ({ status: 503, headers: { 'retry-after': '1' } }));
    await w.makeEpisode('ep-1');
    const r = await w.run(['--once']);
    expect(r.code).toBe(75);
    expect(r.stdout).toMatch(/^retry later ep-1: .* answered 503/m);
    expect(await w.list(w.episodes)).toEqual(['ep-1']);
    expect(s.seen.filter((x) => x.method === 'PUT')).toHaveLength(1);
    const retry = JSON.parse(await readFile(join(w.state, 'retry.json'), 'utf8')) as { episodes: Record<string, { attempts: number; last_status: number }> };
    expect(retry.episodes['ep-1']).toMatchObject({ attempts: 1, last_status: 503 });
  });

  it('404 on the PUT after a good ping (a proxy or route problem): the episode stays, never quarantined', async () => {
    await useScripted(() => ({ status: 404 }));
    await w.makeEpisode('ep-1');
    await w.makeEpisode('ep-2');
    const r = await w.run(['--once']);
    expect(r.code).toBe(69);
    expect(await w.list(w.episodes)).toEqual(['ep-1', 'ep-2']);
    expect(await w.list(w.quarantine)).toEqual([]);
  });

  it('413 and 422 are answers about the episode: quarantined; 500 then 201: shipped by the next pass', async () => {
    const s = await useScripted((req) => (req.path.endsWith('/ep-big') ? { status: 413 } : req.path.endsWith('/ep-weird') ? { status: 422 } : { status: 500 }));
    await w.makeEpisode('ep-big');
    await w.makeEpisode('ep-weird');
    await w.makeEpisode('ep-later');
    const first = await w.run(['--once']);
    expect(first.code).toBe(75);
    expect(await w.list(w.quarantine)).toEqual(['ep-big', 'ep-weird']);
    expect((await reasonOf('ep-big')).http_status).toBe(413);
    expect(await w.list(w.episodes)).toEqual(['ep-later']);
    s.answer = pingOk(() => ({ status: 201 }));
    const second = await w.run(['--once']);
    expect(second.code).toBe(0);
    expect(await w.list(w.shipped)).toEqual(['ep-later']);
  });

  it('sends the SPEC headers: content type, length, digest, host, user agent', async () => {
    const s = await useScripted(() => ({ status: 201 }));
    await w.makeEpisode('ep-1');
    expect((await w.run(['--once'])).code).toBe(0);
    const put = s.seen.find((x) => x.method === 'PUT')!;
    expect(put.path).toBe('/v1/episodes/ep-1');
    expect(put.headers['content-type']).toBe('application/zstd');
    expect(Number(put.headers['content-length'])).toBe(put.bytes);
    expect(put.headers['content-digest']).toMatch(/^sha-256=:[A-Za-z0-9+/]{43}=:$/);
    expect(put.headers['x-shipper-host']).toBe('lab-01');
    expect(put.headers['user-agent']).toMatch(/^shipper\/\d+\.\d+\.\d+/);
    expect(put.headers.authorization).toBeUndefined();
  });
});

describe('local verdicts without a round trip', () => {
  it('quarantines an episode over ship.max_episode_bytes as too_large, and one without a commit as unstamped', async () => {
    await w.writeConfig({ 'ship.max_episode_bytes': 1000, 'ship.require_code_version': true });
    await w.makeEpisode('ep-big', { 'x.bin': Buffer.alloc(5000) });
    await w.makeEpisode('ep-unstamped', {}, { meta: { episode_id: 'ep-unstamped' } });
    await w.makeEpisode('ep-ok');
    const r = await w.run(['--once']);
    expect(r.code).toBe(0);
    expect(await w.list(w.quarantine)).toEqual(['ep-big', 'ep-unstamped']);
    expect((await reasonOf('ep-big')).reason).toBe('too_large');
    expect((await reasonOf('ep-unstamped')).reason).toBe('unstamped');
    expect(await w.stored()).toEqual(['ep-ok.tar.zst']);
  });
});

describe('crash windows, finished by the next run', () => {
  it('re-shipping after a crash between upload and retire is accepted as identical (200) and the episode retires', async () => {
    await w.makeEpisode('ep-1', { 'data.csv': 'x,y\n'.repeat(1000) });
    expect((await w.run(['--once'])).code).toBe(0);
    const stored = await stat(join(w.store, 'lab-01', 'ep-1.tar.zst'));
    // The state a crash right after the 2xx leaves: the episode still in episodes/.
    await rename(join(w.shipped, 'ep-1'), join(w.episodes, 'ep-1'));
    const r = await w.run(['--once']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/event=shipped episode=ep-1 as=ep-1 status=200/);
    expect(await w.list(w.shipped)).toEqual(['ep-1']);
    expect((await stat(join(w.store, 'lab-01', 'ep-1.tar.zst'))).mtimeMs).toBe(stored.mtimeMs);
  });

  it('an episode changed after it was shipped is a conflict (409): quarantined, never overwritten at the receiver', async () => {
    await w.makeEpisode('ep-1', { 'data.csv': 'first' });
    expect((await w.run(['--once'])).code).toBe(0);
    await rename(join(w.shipped, 'ep-1'), join(w.episodes, 'ep-1'));
    await writeFile(join(w.episodes, 'ep-1', 'data.csv'), 'second');
    const r = await w.run(['--once']);
    expect(r.code).toBe(0);
    expect(await w.list(w.quarantine)).toEqual(['ep-1']);
    expect((await reasonOf('ep-1')).http_status).toBe(409);
  });

  it('a reason file written but not moved is finished by recovery', async () => {
    await w.makeEpisode('ep-1');
    await mkdir(w.state, { recursive: true });
    await writeReason({ dataDir: w.data, episodes: w.episodes, outbox: w.outbox, shipped: w.shipped, quarantine: w.quarantine, state: w.state }, Buffer.from('ep-1'),
      makeReason(Buffer.from('ep-1'), 'lab-01', { reason: 'receiver_rejected', httpStatus: 400 }, new Date()));
    const r = await w.run(['--once']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/event=recovered_quarantine episode=ep-1/);
    expect(await w.list(w.quarantine)).toEqual(['ep-1']);
    expect(await w.stored()).toEqual([]);
  });
});

describe('one shipper at a time', () => {
  it('two shippers started at once on the same folders: one works, the other exits 75 naming the holder', async () => {
    await w.writeConfig({ 'ship.max_bytes_per_s': 2_000_000 });
    // Incompressible, so the throttled upload keeps the winner busy for about two seconds.
    await w.makeEpisode('ep-1', { 'x.bin': randomBytes(4_000_000) });
    const a = w.spawn(['--once']);
    const b = w.spawn(['--once']);
    const { runChild } = await import('../helpers/world.js');
    const [ra, rb] = await Promise.all([runChild(a), runChild(b)]);
    const codes = [ra.code, rb.code].sort();
    expect(codes).toEqual([0, 75]);
    const loser = ra.code === 75 ? ra : rb;
    const winner = ra.code === 75 ? b : a;
    expect(loser.stderr).toMatch(new RegExp(`another shipper holds the lock on .*: pid ${winner.pid} \\(once, since `));
    expect(await w.list(w.shipped)).toEqual(['ep-1']);
  });
});
