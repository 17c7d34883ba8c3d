import { createHash } from 'node:crypto';
import { link, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.js';
import { archiveOf, episodeArchive, makeEpisode, tarZst, zstd, type Archive } from '../helpers/archive.js';
import { send, startReceiver, tlsClient, type TestReceiver } from '../helpers/receiver.js';

const digestOf = (a: Archive) => `sha-256=:${a.sha256.toString('base64')}:`;
const headers = (a: Archive, extra: Record<string, string> = {}) => ({
  'content-type': 'application/zstd',
  'content-digest': digestOf(a),
  'x-shipper-host': 'lab-01',
  ...extra,
});

let work: string;
let rx: TestReceiver;
let agent: Agent;
let n = 0;
/** A fresh folder for one archive's episode tree. */
const folder = () => mkdtemp(join(work, `t${++n}-`));

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'shipper-rx-test-'));
  rx = await startReceiver();
  agent = tlsClient(rx.pki);
});

afterAll(async () => {
  await agent.close();
  await rx.stop();
  await rm(work, { recursive: true, force: true });
});

async function put(id: string, a: Archive, extra: Record<string, string> = {}) {
  return send(agent, `${rx.url}/v1/episodes/${id}`, 'PUT', headers(a, extra), await readFile(a.path));
}

/** Every file under the store, temp files included, as `host/name`. */
async function storeFiles(): Promise<string[]> {
  const out: string[] = [];
  for (const host of await readdir(rx.store)) for (const f of await readdir(join(rx.store, host))) out.push(`${host}/${f}`);
  return out.sort();
}

describe('PUT /v1/episodes/{id}: storing', () => {
  it('stores a new episode as <store>/<host_id>/<id>.tar.zst and answers 201', async () => {
    const a = await episodeArchive(await folder(), 'ep-new');
    const res = await put('ep-new', a);
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ ok: true, id: 'ep-new', host_id: 'lab-01', bytes: a.bytes, sha256: a.sha256.toString('hex'), stored: 'new' });
    expect((await readFile(join(rx.store, 'lab-01', 'ep-new.tar.zst'))).equals(await readFile(a.path))).toBe(true);
  });

  it('answers 200 when the same episode arrives again with the same digest (a re-ship after a crash)', async () => {
    const a = await episodeArchive(await folder(), 'ep-again');
    expect((await put('ep-again', a)).status).toBe(201);
    const res = await put('ep-again', a);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ ok: true, stored: 'existing' });
  });

  it('answers 409 when the same id arrives with different contents, and keeps the first', async () => {
    const a = await episodeArchive(await folder(), 'ep-conflict');
    expect((await put('ep-conflict', a)).status).toBe(201);
    const b = await episodeArchive(await folder(), 'ep-conflict', { 'extra.txt': 'changed' });
    const res = await put('ep-conflict', b);
    expect(res.status).toBe(409);
    expect(res.json).toMatchObject({ error: 'conflict' });
    expect((await readFile(join(rx.store, 'lab-01', 'ep-conflict.tar.zst'))).equals(await readFile(a.path))).toBe(true);
  });

  it('keeps episodes of different hosts apart', async () => {
    const a = await episodeArchive(await folder(), 'ep-hosts');
    expect((await put('ep-hosts', a, { 'x-shipper-host': 'lab-02' })).status).toBe(201);
    expect((await put('ep-hosts', a, { 'x-shipper-host': 'lab-03' })).status).toBe(201);
    expect(await storeFiles()).toEqual(expect.arrayContaining(['lab-02/ep-hosts.tar.zst', 'lab-03/ep-hosts.tar.zst']));
  });

  it('serialises concurrent uploads of one id: one 201, the identical ones 200, the different ones 409', async () => {
    const a = await episodeArchive(await folder(), 'ep-race');
    const b = await episodeArchive(await folder(), 'ep-race', { 'other.txt': 'b' });
    const answers = await Promise.all([put('ep-race', a), put('ep-race', a), put('ep-race', b), put('ep-race', a), put('ep-race', b)]);
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    const winner = statuses.indexOf(201) === 2 || statuses.indexOf(201) === 4 ? b : a;
    const stored = await readFile(join(rx.store, 'lab-01', 'ep-race.tar.zst'));
    expect(stored.equals(await readFile(winner.path))).toBe(true);
    answers.forEach((r, i) => {
      if (r.status === 201) return;
      const same = [0, 1, 3].includes(i) === (winner === a);
      expect(r.status).toBe(same ? 200 : 409);
    });
    expect((await storeFiles()).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('accepts an upload without Content-Digest, sent chunked without Content-Length', async () => {
    const a = await episodeArchive(await folder(), 'ep-chunked');
    const res = await send(agent, `${rx.url}/v1/episodes/ep-chunked`, 'PUT', { 'x-shipper-host': 'lab-01' }, Readable.from([await readFile(a.path)]));
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ sha256: a.sha256.toString('hex') });
  });
});

describe('PUT /v1/episodes/{id}: Content-Digest', () => {
  it('answers 400 digest_mismatch when the body does not match Content-Digest, and stores nothing', async () => {
    const a = await episodeArchive(await folder(), 'ep-digest');
    const res = await put('ep-digest', a, { 'content-digest': `sha-256=:${Buffer.alloc(32, 7).toString('base64')}:` });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'digest_mismatch' });
    expect(res.headers['want-content-digest']).toBe('sha-256=10');
    expect((await storeFiles()).filter((f) => f.includes('ep-digest'))).toEqual([]);
  });

  it('answers 400 bad_digest for a Content-Digest that is not an RFC 9530 byte sequence', async () => {
    const a = await episodeArchive(await folder(), 'ep-baddigest');
    for (const bad of [`sha-256=${a.sha256.toString('hex')}`, 'sha-256=:AAAA:', 'not a dictionary!']) {
      const res = await put('ep-baddigest', a, { 'content-digest': bad });
      expect(res.status, bad).toBe(400);
      expect(res.json).toMatchObject({ error: 'bad_digest' });
    }
  });

  it('checks every known algorithm listed and ignores unknown ones', async () => {
    const a = await episodeArchive(await folder(), 'ep-multi');
    const body = await readFile(a.path);
    const sha512 = createHash('sha512').update(body).digest('base64');
    const wrong512 = Buffer.alloc(64, 1).toString('base64');
    const mismatch = await put('ep-multi', a, { 'content-digest': `${digestOf(a)}, sha-512=:${wrong512}:` });
    expect(mismatch.status).toBe(400);
    expect(mismatch.json).toMatchObject({ error: 'digest_mismatch' });
    const ok = await put('ep-multi', a, { 'content-digest': `md5=:AAAA:, ${digestOf(a)}, sha-512=:${sha512}:, unixsum=:AAAA:` });
    expect(ok.status).toBe(201);
  });

  it('treats a Content-Digest of unknown algorithms only as absent', async () => {
    const a = await episodeArchive(await folder(), 'ep-unknownalg');
    const res = await put('ep-unknownalg', a, { 'content-digest': 'md5=:1B2M2Y8AsgTpgAmY7PhCfg==:' });
    expect(res.status).toBe(201);
  });
});

describe('PUT /v1/episodes/{id}: the archive', () => {
  it('answers 400 not_tar_zst for a body that is not zstd', async () => {
    const dir = await folder();
    await makeEpisode(dir, 'ep-plain', { 'meta.json': '{}' });
    const a = await tarZst(dir, ['ep-plain'], join(dir, 'ep-plain.tar.zst'));
    const plainTar = { ...a, path: a.path.replace(/\.zst$/, '') };
    const res = await put('ep-plain', await archiveOf(plainTar.path));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'not_tar_zst' });
    expect(String(res.json?.detail)).toMatch(/zstd/);
  });

  it('answers 400 not_tar_zst for zstd data that is not a tar archive', async () => {
    const dir = await folder();
    const text = join(dir, 'notes.txt');
    await writeFile(text, 'this is not a tar archive\n'.repeat(100));
    const res = await put('ep-text', await zstd(text));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'not_tar_zst' });
  });

  it('answers 400 not_tar_zst for an empty body', async () => {
    const res = await send(agent, `${rx.url}/v1/episodes/ep-empty`, 'PUT', { 'x-shipper-host': 'lab-01', 'content-length': '0' }, Buffer.alloc(0));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'not_tar_zst' });
  });

  it('answers 400 path_outside_episode for an entry outside <id>/', async () => {
    const dir = await folder();
    await makeEpisode(dir, 'ep-out', { 'meta.json': '{}' });
    await writeFile(join(dir, 'elsewhere.txt'), 'x');
    const res = await put('ep-out', await tarZst(dir, ['ep-out', 'elsewhere.txt'], join(dir, 'a.tar.zst')));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'path_outside_episode' });
    expect(String(res.json?.detail)).toContain('elsewhere.txt');
  });

  it('answers 400 path_outside_episode for an archive of another id', async () => {
    const a = await episodeArchive(await folder(), 'ep-one');
    const res = await put('ep-two', a);
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'path_outside_episode' });
  });

  it('answers 400 path_outside_episode for an entry with a ".." component', async () => {
    const dir = await folder();
    await makeEpisode(dir, 'ep-dots', { 'meta.json': '{}', 'd/f': 'x' });
    const a = await tarZst(dir, ['ep-dots'], join(dir, 'a.tar.zst'), ['--transform', 's,^ep-dots/d/f$,ep-dots/../evil,']);
    const res = await put('ep-dots', a);
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'path_outside_episode' });
    expect(String(res.json?.detail)).toContain('..');
  });

  it('answers 400 path_outside_episode for an absolute entry name', async () => {
    const dir = await folder();
    await makeEpisode(dir, 'ep-abs', { 'meta.json': '{}', 'd/f': 'x' });
    const a = await tarZst(dir, ['ep-abs'], join(dir, 'a.tar.zst'), ['-P', '--transform', 's,^ep-abs/d/f$,/etc/evil,']);
    const res = await put('ep-abs', a);
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'path_outside_episode' });
    expect(String(res.json?.detail)).toContain('absolute');
  });

  it('answers 400 path_outside_episode for a hard link that points outside <id>/', async () => {
    const dir = await folder();
    await makeEpisode(dir, 'ep-link', { 'meta.json': '{}', 'd/f': 'x' });
    await link(join(dir, 'ep-link', 'd', 'f'), join(dir, 'ep-link', 'hl'));
    const a = await tarZst(dir, ['ep-link'], join(dir, 'a.tar.zst'), ['--transform', 's,^ep-link/d/f$,other/f,RSh']);
    const res = await put('ep-link', a);
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'path_outside_episode' });
    expect(String(res.json?.detail)).toContain('hard link');
  });

  it('accepts symbolic links whatever they point at: they are stored as links', async () => {
    const dir = await folder();
    await makeEpisode(dir, 'ep-symlink', { 'meta.json': '{}' });
    await symlink('../../shared/calibration.json', join(dir, 'ep-symlink', 'calibration.json'));
    const res = await put('ep-symlink', await tarZst(dir, ['ep-symlink'], join(dir, 'a.tar.zst')));
    expect(res.status).toBe(201);
  });
});

describe('requests the receiver refuses before reading an archive', () => {
  it('answers 400 invalid_episode_id for an id outside [A-Za-z0-9][A-Za-z0-9._-]{0,127}', async () => {
    const a = await episodeArchive(await folder(), 'ep-ok');
    for (const id of ['.hidden', '-dash', 'a'.repeat(129), 'sp%20ace', 'semi%3Bcolon', '%E2%82%AC']) {
      const res = await send(agent, `${rx.url}/v1/episodes/${id}`, 'PUT', headers(a), await readFile(a.path));
      expect(res.status, id).toBe(400);
      expect(res.json).toMatchObject({ error: 'invalid_episode_id' });
    }
  });

  it('answers 400 invalid_host_id when X-Shipper-Host is missing or malformed', async () => {
    const a = await episodeArchive(await folder(), 'ep-host');
    const body = await readFile(a.path);
    const missing = await send(agent, `${rx.url}/v1/episodes/ep-host`, 'PUT', { 'content-digest': digestOf(a) }, body);
    expect(missing.status).toBe(400);
    expect(missing.json).toMatchObject({ error: 'invalid_host_id' });
    for (const host of ['Lab-01', '../etc', '.lab', 'x'.repeat(64)]) {
      const res = await put('ep-host', a, { 'x-shipper-host': host });
      expect(res.status, host).toBe(400);
      expect(res.json).toMatchObject({ error: 'invalid_host_id' });
    }
  });

  it('answers 404 not_found for an unknown path', async () => {
    for (const path of ['/', '/v1/episodes/', '/v2/ping', '/v1/episodes']) {
      const res = await send(agent, `${rx.url}${path}`, 'PUT', { 'x-shipper-host': 'lab-01' }, Buffer.from('x'));
      expect(res.status, path).toBe(404);
      expect(res.json).toMatchObject({ error: 'not_found' });
    }
  });

  it('answers 405 method_not_allowed with Allow for a wrong method on a known path', async () => {
    const get = await send(agent, `${rx.url}/v1/episodes/ep-x`, 'GET', { 'x-shipper-host': 'lab-01' });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('PUT');
    expect(get.json).toMatchObject({ error: 'method_not_allowed' });
    const ping = await send(agent, `${rx.url}/v1/ping`, 'GET', { 'x-shipper-host': 'lab-01' });
    expect(ping.status).toBe(405);
    expect(ping.headers.allow).toBe('POST');
  });
});

describe('POST /v1/ping', () => {
  it('answers 200 with the receiver version, the host id and the time', async () => {
    const res = await send(agent, `${rx.url}/v1/ping`, 'POST', { 'x-shipper-host': 'lab-01' });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ ok: true, receiver: `shipper-receiver/${VERSION}`, host_id: 'lab-01' });
    expect(Math.abs(Date.parse(String(res.json?.time)) - Date.now())).toBeLessThan(60_000);
    expect(res.headers.server).toBe(`shipper-receiver/${VERSION}`);
  });

  it('logs the client certificate it saw', async () => {
    await send(agent, `${rx.url}/v1/ping`, 'POST', { 'x-shipper-host': 'lab-01' });
    expect(rx.logs.some((l) => l.includes('event=ping') && l.includes(`client_serial=${rx.pki.client.serial}`) && l.includes('client_cn=lab-01'))).toBe(true);
  });
});

describe('a receiver with bearer tokens', () => {
  let tokRx: TestReceiver;
  let tokAgent: Agent;
  beforeAll(async () => {
    tokRx = await startReceiver({ tokens: ['s3cret-token-one', 'second-token-two'] });
    tokAgent = tlsClient(tokRx.pki);
  });
  afterAll(async () => {
    await tokAgent.close();
    await tokRx.stop();
  });

  it('answers 401 token_required to a request without Authorization', async () => {
    const res = await send(tokAgent, `${tokRx.url}/v1/ping`, 'POST', { 'x-shipper-host': 'lab-01' });
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({ error: 'token_required' });
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('answers 403 token_rejected to a wrong token, without echoing it', async () => {
    const a = await episodeArchive(await folder(), 'ep-tok');
    const res = await send(tokAgent, `${tokRx.url}/v1/episodes/ep-tok`, 'PUT', headers(a, { authorization: 'Bearer wrong-token-xyz' }), await readFile(a.path));
    expect(res.status).toBe(403);
    expect(res.json).toMatchObject({ error: 'token_rejected' });
    expect(res.text).not.toContain('wrong-token-xyz');
    expect(tokRx.logs.join('')).not.toContain('wrong-token-xyz');
    expect((await readdir(tokRx.store)).length).toBe(0);
  });

  it('accepts any token of the token list', async () => {
    for (const t of ['s3cret-token-one', 'second-token-two']) {
      const res = await send(tokAgent, `${tokRx.url}/v1/ping`, 'POST', { 'x-shipper-host': 'lab-01', authorization: `Bearer ${t}` });
      expect(res.status).toBe(200);
    }
    const a = await episodeArchive(await folder(), 'ep-tok-ok');
    const res = await send(tokAgent, `${tokRx.url}/v1/episodes/ep-tok-ok`, 'PUT', headers(a, { authorization: 'bearer second-token-two' }), await readFile(a.path));
    expect(res.status).toBe(201);
  });

  it('never writes an accepted token into its log', async () => {
    expect(tokRx.logs.join('')).not.toMatch(/s3cret-token-one|second-token-two/);
  });
});

describe('the store folder', () => {
  it('is created when missing, and temp files a crashed run left are removed at start', async () => {
    const root = join(await folder(), 'new-store');
    await mkdir(join(root, 'lab-01'), { recursive: true });
    await writeFile(join(root, 'lab-01', '.tmp-ep-crashed.abc123'), 'partial');
    await writeFile(join(root, 'lab-01', 'ep-done.tar.zst'), 'kept');
    const r = await startReceiver({ store: root });
    try {
      expect(await readdir(join(root, 'lab-01'))).toEqual(['ep-done.tar.zst']);
      expect(r.logs[0]).toMatch(/event=receiver_listening url=https:\/\/127\.0\.0\.1:\d+/);
      expect(r.logs.some((l) => l.includes('event=store_temps_removed') && l.includes('count=1'))).toBe(true);
    } finally {
      await r.receiver.close(100);
    }
  });
});
