import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEpisode, metaJson, tarZst, type Archive } from '../helpers/archive.js';
import { send, startReceiver, tlsClient, type TestReceiver } from '../helpers/receiver.js';

const NOW = new Date('2026-11-22T12:00:00Z');
const DAY = 86_400_000;

let work: string;
let n = 0;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'shipper-gates-test-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** An archive of episode `id` whose meta.json is `meta` (none when null). */
async function withMeta(id: string, meta: string | null, extra: Record<string, string> = {}): Promise<Archive> {
  const dir = await mkdtemp(join(work, `t${++n}-`));
  await makeEpisode(dir, id, { 'data.bin': 'x', ...(meta === null ? {} : { 'meta.json': meta }), ...extra });
  return tarZst(dir, [id], join(dir, `${id}.tar.zst`));
}

async function ship(r: TestReceiver, agent: Agent, id: string, a: Archive) {
  return send(agent, `${r.url}/v1/episodes/${id}`, 'PUT', { 'x-shipper-host': 'lab-01' }, await readFile(a.path));
}

describe('--require-code-version', () => {
  let rx: TestReceiver;
  let agent: Agent;
  beforeAll(async () => {
    rx = await startReceiver({ requireCodeVersion: true });
    agent = tlsClient(rx.pki);
  });
  afterAll(async () => {
    await agent.close();
    await rx.stop();
  });

  it('accepts an episode whose meta.json has a 40-hex code_version.commit', async () => {
    expect((await ship(rx, agent, 'ep-stamped', await withMeta('ep-stamped', metaJson()))).status).toBe(201);
  });

  it('answers 400 missing_code_version when meta.json lacks a commit or it is not 40 hex', async () => {
    const cases: [string, string | null][] = [
      ['ep-nometa', null],
      ['ep-nocv', JSON.stringify({ ended_at: NOW.toISOString() })],
      ['ep-short', metaJson({ code_version: { commit: 'abc123' } })],
      ['ep-nothex', metaJson({ code_version: { commit: 'z'.repeat(40) } })],
      ['ep-number', metaJson({ code_version: { commit: 1234 } })],
    ];
    for (const [id, meta] of cases) {
      const res = await ship(rx, agent, id, await withMeta(id, meta));
      expect(res.status, id).toBe(400);
      expect(res.json, id).toMatchObject({ error: 'missing_code_version' });
    }
  });

  it('answers 400 bad_meta when meta.json is not JSON', async () => {
    const res = await ship(rx, agent, 'ep-badjson', await withMeta('ep-badjson', '{ "code_version": '));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'bad_meta' });
  });

  it('only reads <id>/meta.json, not a meta.json deeper in the episode', async () => {
    const res = await ship(rx, agent, 'ep-deep', await withMeta('ep-deep', null, { 'sub/meta.json': metaJson() }));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'missing_code_version' });
  });
});

describe('--window-days', () => {
  let rx: TestReceiver;
  let agent: Agent;
  beforeAll(async () => {
    rx = await startReceiver({ windowDays: 7, now: () => NOW });
    agent = tlsClient(rx.pki);
  });
  afterAll(async () => {
    await agent.close();
    await rx.stop();
  });

  it('accepts an episode that ended within the window, before or after now', async () => {
    for (const [id, t] of [['ep-recent', NOW.getTime() - 6 * DAY], ['ep-skew', NOW.getTime() + 2 * DAY]] as const) {
      const res = await ship(rx, agent, id, await withMeta(id, metaJson({ ended_at: new Date(t).toISOString() })));
      expect(res.status, id).toBe(201);
    }
  });

  it('answers 412 outside_window for an episode that ended more than N days ago or ahead', async () => {
    for (const [id, t] of [['ep-old', NOW.getTime() - 8 * DAY], ['ep-future', NOW.getTime() + 30 * DAY]] as const) {
      const res = await ship(rx, agent, id, await withMeta(id, metaJson({ ended_at: new Date(t).toISOString() })));
      expect(res.status, id).toBe(412);
      expect(res.json, id).toMatchObject({ error: 'outside_window' });
    }
  });

  it('answers 400 bad_meta for an ended_at that is not a date', async () => {
    const res = await ship(rx, agent, 'ep-nodate', await withMeta('ep-nodate', metaJson({ ended_at: 'yesterday-ish' })));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'bad_meta' });
  });

  it('accepts an episode without meta.json or without ended_at: there is nothing to check', async () => {
    expect((await ship(rx, agent, 'ep-nometa', await withMeta('ep-nometa', null))).status).toBe(201);
    expect((await ship(rx, agent, 'ep-noend', await withMeta('ep-noend', JSON.stringify({ episode_id: 'ep-noend' })))).status).toBe(201);
  });
});

describe('--max-bytes', () => {
  let rx: TestReceiver;
  let agent: Agent;
  beforeAll(async () => {
    rx = await startReceiver({ maxBytes: 64 * 1024 });
    agent = tlsClient(rx.pki);
  });
  afterAll(async () => {
    await agent.close();
    await rx.stop();
  });

  const big = () => Buffer.alloc(8 * 1024 * 1024, 0x5a);

  it('answers 413 too_large from Content-Length alone, before reading the body', async () => {
    const res = await send(agent, `${rx.url}/v1/episodes/ep-big`, 'PUT', { 'x-shipper-host': 'lab-01' }, big());
    expect(res.status).toBe(413);
    expect(res.json).toMatchObject({ error: 'too_large' });
    expect(String(res.json?.detail)).toContain('Content-Length');
  });

  it('answers 413 too_large to a chunked body once it passes the limit, and keeps no temp file', async () => {
    const chunks = Array.from({ length: 64 }, () => Buffer.alloc(128 * 1024, 0x5a));
    const res = await send(agent, `${rx.url}/v1/episodes/ep-big-chunked`, 'PUT', { 'x-shipper-host': 'lab-01' }, Readable.from(chunks));
    expect(res.status).toBe(413);
    expect(res.json).toMatchObject({ error: 'too_large' });
    const hosts = await readdir(rx.store);
    for (const h of hosts) expect(await readdir(join(rx.store, h))).toEqual([]);
  });

  it('accepts a body at or under the limit', async () => {
    const a = await withMeta('ep-small', metaJson());
    expect(a.bytes).toBeLessThan(64 * 1024);
    expect((await ship(rx, agent, 'ep-small', a)).status).toBe(201);
  });
});
