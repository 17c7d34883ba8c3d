// The reference receiver under generated hostile clients: archives whose entries (and hard
// link targets) sit outside `<id>/` — `..`, absolute paths, other ids, lookalikes — are
// refused with 400 and never stored; what it does store extracts with GNU tar only under
// `<id>/`. Junk bodies and bodies shorter or longer than announced are refused or dropped
// and leave no temp file. A burst of 1000 pings with slowloris clients and junk uploads
// in the middle leaves it up and answering.

import fc from 'fast-check';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type TLSSocket } from 'node:tls';
import tarStream from 'tar-stream';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../pack/helpers.js';
import { send, startReceiver, tlsClient, type TestReceiver } from '../helpers/receiver.js';

let rx: TestReceiver;
let agent: Agent;
let jail: string;
let n = 0;

beforeAll(async () => {
  rx = await startReceiver({ idleTimeoutMs: 1_000, headersTimeoutMs: 1_000 });
  agent = tlsClient(rx.pki);
  jail = await mkdtemp(join(tmpdir(), 'shipper-jail-'));
});
afterAll(async () => {
  await agent.close();
  await rx.stop();
  await rm(jail, { recursive: true, force: true });
});

interface Entry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'link';
  linkname: string;
}

/** Names inside `<id>/`, and every way out of it. `ID` stands for the episode id. */
const entryName = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[a-z0-9._-]{1,8}(\/[a-z0-9._-]{1,8}){0,2}$/).filter((s) => !s.split('/').includes('..')).map((s) => `ID/${s}`) },
  {
    weight: 3,
    arbitrary: fc.constantFrom('..', '../x', 'ID/../x', 'ID/a/../../b', '/abs', '/ID/x', 'other/x', './ID/x', 'IDx/y', 'ID', 'ID/', '//ID/x', 'ID/..', '../ID/x', 'ID/../ID/x'),
  },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !s.includes('\0')) },
);

const entry = fc.record({
  name: entryName,
  type: fc.constantFrom<Entry['type']>('file', 'file', 'directory', 'symlink', 'link'),
  linkname: fc.oneof(entryName, fc.constantFrom('/etc/passwd', '../../etc/shadow')),
});

/** What SPEC asks of an entry name: under `<id>/` (or `<id>` itself), not absolute, no `..`. */
function inside(id: string, name: string): boolean {
  if (name.startsWith('/')) return false;
  const parts = name.split('/');
  return parts[0] === id && !parts.includes('..');
}

async function tarZst(entries: Entry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const ended = once(pack, 'end');
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (e.type === 'file') pack.entry({ name: e.name, type: 'file', mode: 0o644 }, Buffer.from(`data of ${e.name}\n`), done);
      else if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory', mode: 0o755 }, done);
      else pack.entry({ name: e.name, type: e.type, linkname: e.linkname }, done);
    });
  }
  pack.finalize();
  await ended;
  const z = await run(['zstd', '-q', '-c', '-3'], Buffer.concat(chunks));
  return z.stdout;
}

const digest = (b: Buffer) => `sha-256=:${createHash('sha256').update(b).digest('base64')}:`;

async function storeTemps(): Promise<string[]> {
  const out: string[] = [];
  for (const host of await readdir(rx.store).catch(() => [] as string[])) {
    for (const f of await readdir(join(rx.store, host))) if (f.startsWith('.')) out.push(`${host}/${f}`);
  }
  return out;
}

async function pingOk(): Promise<void> {
  const a = await send(agent, `${rx.url}/v1/ping`, 'POST', { 'x-shipper-host': 'lab-01' });
  expect(a.status).toBe(200);
}

describe('generated archives with entries inside and outside <id>/', () => {
  it('are stored (201) exactly when every entry and hard-link target is under <id>/, else refused with 400; stored ones extract only under <id>/', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 6 }), async (raw) => {
        const id = `ep-${++n}`;
        const entries = raw.map((e) => ({ ...e, name: e.name.replace(/ID/g, id), linkname: e.linkname.replace(/ID/g, id) }));
        const body = await tarZst(entries);
        const ok = entries.every((e) => inside(id, e.name) && (e.type !== 'link' || inside(id, e.linkname)));
        const a = await send(agent, `${rx.url}/v1/episodes/${id}`, 'PUT', { 'x-shipper-host': 'lab-01', 'content-digest': digest(body), 'content-type': 'application/zstd' }, body);
        expect(a.status, `${JSON.stringify(entries)} -> ${a.text}`).toBe(ok ? 201 : 400);
        if (!ok) expect(a.json?.error).toBe('path_outside_episode');
        if (ok) {
          // GNU tar, run as an operator would, writes nothing outside <jail>/<id>/.
          const into = join(jail, id);
          await mkdir(into);
          await run(['tar', '-x', '--zstd', '-C', into, '-f', join(rx.store, 'lab-01', `${id}.tar.zst`)]);
          for (const top of await readdir(into)) expect(top).toBe(id);
          expect((await readdir(jail)).filter((x) => !x.startsWith('ep-'))).toEqual([]);
        }
      }),
      { numRuns: 60 },
    );
    expect(await storeTemps()).toEqual([]);
    await pingOk();
  }, 120_000);
});

/** A raw mutual-TLS connection, for clients that lie about their bodies. */
async function rawTls(): Promise<TLSSocket> {
  const socket = connect({ host: '127.0.0.1', port: rx.receiver.port, servername: 'localhost', ca: rx.pki.ca.certPem, cert: rx.pki.client.certPem, key: rx.pki.client.keyPem });
  socket.on('error', () => {});
  await once(socket, 'secureConnect');
  return socket;
}

describe('bodies that are junk or lie about their length', () => {
  it('are refused or dropped, never stored, never leave a temp file, and the receiver keeps answering', async () => {
    const valid = await tarZst([{ name: 'ID/', type: 'directory', linkname: '' }, { name: 'ID/a.txt', type: 'file', linkname: '' }]);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 5000 }).map((b) => Buffer.from(b)),
          fc.nat(valid.length).map((k) => valid.subarray(0, k)),
          fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((b) => Buffer.concat([valid.subarray(0, 20), Buffer.from(b)])),
        ),
        fc.integer({ min: -3000, max: 3000 }),
        async (body, lie) => {
          const id = `junk-${++n}`;
          const declared = Math.max(0, body.length + lie);
          const socket = await rawTls();
          let answer = '';
          socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
          const closed = once(socket, 'close');
          socket.write(`PUT /v1/episodes/${id} HTTP/1.1\r\nHost: localhost\r\nX-Shipper-Host: lab-01\r\nContent-Length: ${declared}\r\nConnection: close\r\n\r\n`);
          socket.end(body);
          await Promise.race([closed, sleep(5_000)]);
          socket.destroy();
          // Whatever it answered, it is never a success for junk.
          if (answer) expect(answer).not.toMatch(/^HTTP\/1\.1 2/);
        },
      ),
      { numRuns: 40 },
    );
    // A temp file lives until the receiver sees the connection end (idle or linger timeout).
    for (let i = 0; i < 150 && (await storeTemps()).length > 0; i++) await sleep(100);
    expect(await storeTemps()).toEqual([]);
    expect((await readdir(join(rx.store, 'lab-01')).catch(() => [] as string[])).filter((f) => f.startsWith('junk-'))).toEqual([]);
    await pingOk();
  }, 120_000);
});

describe('a burst of hostile and honest clients at once', () => {
  it('1000 concurrent pings, 20 slowloris clients, 20 junk uploads and 5 honest uploads: every ping 200, honest 201, junk 400, and it stays up', async () => {
    const honest = await Promise.all(Array.from({ length: 5 }, (_, i) => tarZst([{ name: `burst-${i}/`, type: 'directory', linkname: '' }, { name: `burst-${i}/x.bin`, type: 'file', linkname: '' }])));
    const slow = await Promise.all(Array.from({ length: 20 }, () => rawTls()));
    let slowClosed = 0;
    for (const s of slow) {
      s.resume(); // read what the receiver sends (a 408, the end) so that its close is seen
      s.once('close', () => slowClosed++);
    }
    let trickling = true;
    const trickle = (async () => {
      for (const s of slow) s.write('POST /v1/ping HTTP/1.1\r\nHost: localhost\r\n');
      while (trickling) {
        for (const s of slow) if (!s.destroyed) s.write('X');
        await sleep(200);
      }
    })();
    // 1000 requests at once, over at most 100 connections: the test measures the receiver,
    // not how many TLS handshakes two cores finish within undici's connect timeout.
    const many = new Agent({ connect: { ca: rx.pki.ca.certPem, cert: rx.pki.client.certPem, key: rx.pki.client.keyPem, servername: 'localhost' }, connections: 100 });
    const pings = Array.from({ length: 1000 }, () => send(many, `${rx.url}/v1/ping`, 'POST', { 'x-shipper-host': 'lab-01' }).then((a) => a.status, (err: Error & { code?: string; cause?: { code?: string } }) => `${err.code ?? ''} ${err.cause?.code ?? ''} ${err.message}`));
    const junk = Array.from({ length: 20 }, (_, i) => {
      const body = randomBytes(10_000 + i);
      return send(agent, `${rx.url}/v1/episodes/burst-junk-${i}`, 'PUT', { 'x-shipper-host': 'lab-01', 'content-digest': digest(body) }, body).then((a) => a.status);
    });
    const good = honest.map((body, i) => send(agent, `${rx.url}/v1/episodes/burst-${i}`, 'PUT', { 'x-shipper-host': 'lab-01', 'content-digest': digest(body) }, body).then((a) => a.status));
    const [p, j, g] = await Promise.all([Promise.all(pings), Promise.all(junk), Promise.all(good)]);
    trickling = false;
    await trickle;
    await many.close();
    expect(p.filter((s) => s !== 200)).toEqual([]);
    expect(j).toEqual(Array(20).fill(400));
    expect(g).toEqual(Array(5).fill(201));
    // The slowloris connections were cut by the headers timeout, not kept for ever.
    for (let i = 0; i < 50 && slowClosed < slow.length; i++) await sleep(100);
    expect(slowClosed).toBe(slow.length);
    for (const s of slow) s.destroy();
    await pingOk();
  }, 120_000);
});
