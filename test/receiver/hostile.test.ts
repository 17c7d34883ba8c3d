import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { episodeArchive, type Archive } from '../helpers/archive.js';
import type { CertFiles } from '../helpers/pki.js';
import { send, startReceiver, tlsClient, type TestReceiver } from '../helpers/receiver.js';

const run = promisify(execFile);

let work: string;
let rx: TestReceiver;
let agent: Agent;
let archive: Archive;
/** Large enough that zstd (which reads 128 KiB at a time) cannot judge a part of it. */
let big: Archive;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'shipper-hostile-test-'));
  rx = await startReceiver({ idleTimeoutMs: 1_000, headersTimeoutMs: 1_000 });
  agent = tlsClient(rx.pki);
  archive = await episodeArchive(work, 'ep-base', { 'big.bin': Buffer.alloc(256 * 1024, 1) });
  big = await episodeArchive(work, 'ep-stalled', { 'random.bin': randomBytes(1024 * 1024) });
});

afterAll(async () => {
  await agent.close();
  await rx.stop();
  await rm(work, { recursive: true, force: true });
});

/** Every file in the store, temp files included. */
async function storeFiles(): Promise<string[]> {
  const out: string[] = [];
  for (const host of await readdir(rx.store)) for (const f of await readdir(join(rx.store, host))) out.push(`${host}/${f}`);
  return out;
}

/** A raw mutual-TLS connection, for clients that misbehave on purpose. */
async function rawTls(cert: CertFiles | null = rx.pki.client): Promise<TLSSocket> {
  const socket = connect({
    host: '127.0.0.1',
    port: rx.receiver.port,
    servername: 'localhost',
    ca: rx.pki.ca.certPem,
    ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
  });
  await once(socket, 'secureConnect');
  return socket;
}

/** Resolve when the server closes `socket`, with what it sent; reject after `ms`. */
async function closedByServer(socket: TLSSocket, ms: number): Promise<string> {
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => got);
  const timeout = sleep(ms).then(() => {
    throw new Error(`the receiver did not close the connection within ${ms} ms`);
  });
  return Promise.race([closed, timeout]);
}

async function waitForLog(pattern: RegExp, ms = 5_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const line = rx.logs.find((l) => pattern.test(l));
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no log line matched ${pattern}`);
    await sleep(20);
  }
}

const head = (id: string, length: number) =>
  `PUT /v1/episodes/${id} HTTP/1.1\r\nHost: localhost\r\nX-Shipper-Host: lab-01\r\nContent-Type: application/zstd\r\nContent-Length: ${length}\r\n\r\n`;

describe('uploads that break off', () => {
  it('an upload aborted half-way leaves nothing behind: no temp file, no final file', async () => {
    const body = await readFile(archive.path);
    const socket = await rawTls();
    socket.write(head('ep-aborted', body.length));
    socket.write(body.subarray(0, body.length >> 1));
    await waitForLog(/event=nothing-yet/, 200).catch(() => {});
    expect((await storeFiles()).some((f) => f.includes('.tmp-ep-aborted'))).toBe(true);
    socket.destroy();
    await waitForLog(/event=upload_aborted .*id=ep-aborted/);
    expect((await storeFiles()).filter((f) => f.includes('ep-aborted'))).toEqual([]);
  });

  it('an upload that stalls is closed after the idle timeout and leaves nothing behind', async () => {
    const body = await readFile(big.path);
    const socket = await rawTls();
    socket.write(head('ep-stalled', body.length));
    socket.write(body.subarray(0, 1000));
    const started = Date.now();
    await closedByServer(socket, 5_000);
    expect(Date.now() - started).toBeLessThan(4_000);
    await waitForLog(/event=upload_aborted .*id=ep-stalled/);
    expect((await storeFiles()).filter((f) => f.includes('ep-stalled'))).toEqual([]);
  });

  it('a slowloris client trickling its headers is cut off after the headers timeout', async () => {
    const socket = await rawTls();
    const closed = closedByServer(socket, 6_000);
    const started = Date.now();
    socket.write('POST /v1/ping HTTP/1.1\r\nHost: localhost\r\n');
    let stop = false;
    void closed.finally(() => (stop = true)).catch(() => {});
    while (!stop && Date.now() - started < 6_000) {
      // One header byte every 200 ms keeps the socket from going idle.
      if (!socket.destroyed) socket.write('X');
      await sleep(200);
    }
    const answer = await closed;
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
  });

  it('a body longer than announced never stores more than the announced bytes, and the excess is refused as a bad request', async () => {
    const body = await readFile(archive.path);
    const socket = await rawTls();
    const done = closedByServer(socket, 5_000);
    socket.write(head('ep-excess', body.length));
    socket.write(Buffer.concat([body, Buffer.from('GARBAGE-AFTER-THE-BODY '.repeat(100))]));
    expect(await done).toContain('HTTP/1.1 400 Bad Request');
    // Node drops the connection at the garbage, and with it the request if its body was not
    // yet read to the end: either it is stored byte for byte, or nothing is.
    const line = await waitForLog(/event=(episode_stored|upload_aborted) .*id=ep-excess/);
    const files = (await storeFiles()).filter((f) => f.includes('ep-excess'));
    if (line.includes('episode_stored')) {
      expect(files).toEqual(['lab-01/ep-excess.tar.zst']);
      expect((await readFile(join(rx.store, 'lab-01', 'ep-excess.tar.zst'))).equals(body)).toBe(true);
    } else {
      expect(files).toEqual([]);
    }
  });
});

describe('uploads that are slow or large', () => {
  it('an upload that takes longer than every timeout but keeps moving is stored: timeouts are about idleness', async () => {
    const body = await readFile(big.path);
    const socket = await rawTls();
    const done = closedByServer(socket, 20_000);
    const started = Date.now();
    socket.write(head('ep-stalled', body.length).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    const pieces = 12;
    const step = Math.ceil(body.length / pieces);
    for (let i = 0; i < pieces; i++) {
      socket.write(body.subarray(i * step, (i + 1) * step));
      await sleep(250);
    }
    const answer = await done;
    // 3 s in all, three times the receiver's idle and headers timeouts.
    expect(Date.now() - started).toBeGreaterThan(2_500);
    expect(answer).toMatch(/^HTTP\/1\.1 201 /);
    expect((await readFile(join(rx.store, 'lab-01', 'ep-stalled.tar.zst'))).equals(body)).toBe(true);
  });

  it('a large upload is hashed off the main thread and checked against sha-256 and sha-512 alike', async () => {
    const a = await episodeArchive(await mkdtemp(join(work, 'large-')), 'ep-large', { 'noise.bin': randomBytes(12 * 1024 * 1024) });
    expect(a.bytes).toBeGreaterThan(8 * 1024 * 1024);
    const body = await readFile(a.path);
    const sha512 = createHash('sha512').update(body).digest('base64');
    const digest = `sha-256=:${a.sha256.toString('base64')}:, sha-512=:${sha512}:`;
    const bad = await send(agent, `${rx.url}/v1/episodes/ep-large`, 'PUT', { 'x-shipper-host': 'lab-01', 'content-digest': digest.replace(sha512, Buffer.alloc(64).toString('base64')) }, body);
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: 'digest_mismatch' });
    const ok = await send(agent, `${rx.url}/v1/episodes/ep-large`, 'PUT', { 'x-shipper-host': 'lab-01', 'content-digest': digest }, body);
    expect(ok.status).toBe(201);
    expect(ok.json).toMatchObject({ sha256: a.sha256.toString('hex'), bytes: a.bytes });
  });
});

describe('mutual TLS', () => {
  async function pingWith(cert: CertFiles | null): Promise<unknown> {
    const a = tlsClient(rx.pki, cert);
    try {
      await send(a, `${rx.url}/v1/ping`, 'POST', { 'x-shipper-host': 'lab-01' });
      return null;
    } catch (err) {
      return err;
    } finally {
      await a.close().catch(() => {});
    }
  }

  it('refuses a client without a certificate at the TLS layer', async () => {
    const err = await pingWith(null);
    expect(err).toBeInstanceOf(Error);
    await waitForLog(/event=tls_refused .*code=ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE/);
  });

  it('refuses a client certificate from another CA at the TLS layer', async () => {
    const err = await pingWith(rx.pki.otherClient);
    expect(err).toBeInstanceOf(Error);
    await waitForLog(/event=tls_refused .*reason=(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/);
  });

  it('refuses an expired client certificate and one that is not valid yet', async () => {
    expect(await pingWith(rx.pki.expiredClient)).toBeInstanceOf(Error);
    await waitForLog(/event=tls_refused .*reason=CERT_HAS_EXPIRED/);
    expect(await pingWith(rx.pki.notYetValidClient)).toBeInstanceOf(Error);
    await waitForLog(/event=tls_refused .*reason=CERT_NOT_YET_VALID/);
  });

  it('accepts a plain curl -T upload without Content-Digest', async () => {
    const a = await episodeArchive(await mkdtemp(join(work, 'curl-')), 'ep-curl');
    const { stdout } = await run('curl', [
      '--silent', '--show-error', '--max-time', '20',
      '--cacert', rx.pki.ca.cert, '--cert', rx.pki.client.cert, '--key', rx.pki.client.key,
      '-H', 'X-Shipper-Host: lab-01',
      '-T', a.path,
      '--write-out', '\n%{http_code}',
      `https://localhost:${rx.receiver.port}/v1/episodes/ep-curl`,
    ]);
    const cut = stdout.lastIndexOf('\n');
    const [body, code] = [stdout.slice(0, cut), stdout.slice(cut + 1)];
    expect(code).toBe('201');
    expect(JSON.parse(body!)).toMatchObject({ ok: true, sha256: a.sha256.toString('hex') });
    expect((await readFile(join(rx.store, 'lab-01', 'ep-curl.tar.zst'))).equals(await readFile(a.path))).toBe(true);
  });
});

describe('load', () => {
  it('stays up under 1000 concurrent pings and answers every one', { timeout: 120_000 }, async () => {
    // Default timeouts: 1000 handshakes in one process take longer than this file's 1 s.
    // Node spends several ms of CPU per TLS connection on each side, so this takes a while.
    const r = await startReceiver();
    const many = new Agent({
      connect: { ca: r.pki.ca.certPem, cert: r.pki.client.certPem, key: r.pki.client.keyPem, servername: 'localhost', timeout: 100_000 },
    });
    const one = tlsClient(r.pki);
    try {
      const answers = await Promise.allSettled(
        Array.from({ length: 1000 }, () => send(many, `${r.url}/v1/ping`, 'POST', { 'x-shipper-host': 'lab-01' })),
      );
      const failed = answers.filter((a) => a.status === 'rejected').map((a) => String((a as PromiseRejectedResult).reason));
      expect(failed.slice(0, 3)).toEqual([]);
      expect(answers.filter((a) => a.status === 'fulfilled' && a.value.status === 200)).toHaveLength(1000);
      expect((await send(one, `${r.url}/v1/ping`, 'POST', { 'x-shipper-host': 'lab-01' })).status).toBe(200);
    } finally {
      await many.destroy();
      await one.close();
      await r.stop();
    }
  });
});

describe('shutdown', () => {
  it('close() aborts an upload still in flight after the grace period and removes its temp file', async () => {
    const r = await startReceiver();
    const body = await readFile(archive.path);
    const socket = connect({ host: '127.0.0.1', port: r.receiver.port, servername: 'localhost', ca: r.pki.ca.certPem, cert: r.pki.client.certPem, key: r.pki.client.keyPem });
    await once(socket, 'secureConnect');
    socket.on('error', () => {});
    socket.write(head('ep-shutdown', body.length));
    socket.write(body.subarray(0, 4096));
    const deadline = Date.now() + 5_000;
    while (!r.logs.length || !(await readdir(r.store)).includes('lab-01')) {
      if (Date.now() > deadline) throw new Error('upload did not start');
      await sleep(20);
    }
    const started = Date.now();
    await r.receiver.close(300);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await readdir(join(r.store, 'lab-01'))).toEqual([]);
    socket.destroy();
    await rm(r.store, { recursive: true, force: true });
  });
});
