import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { copyFile, mkdtemp, readFile, rename, rm, writeFile, chmod } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TlsMaterial } from '../../src/config/credentials.js';
import type { Config } from '../../src/config/schema.js';
import { createLogger } from '../../src/log/logger.js';
import { ReceiverClient, type Result } from '../../src/transport/client.js';
import { episodeArchive, type Archive } from '../helpers/archive.js';
import { makePki, type Pki } from '../helpers/pki.js';
import { startReceiver, type TestReceiver } from '../helpers/receiver.js';
import { clientSetup, type ClientSetupOptions } from '../helpers/shipper-config.js';

const TOKEN = 'tok-3f9a1c77e0b24d5e';

let pki: Pki;
let work: string;
let rx: TestReceiver;
let archive: Archive;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  pki = await makePki();
  work = await mkdtemp(join(tmpdir(), 'shipper-transport-'));
  rx = await startReceiver({ tokens: [TOKEN] });
  archive = await episodeArchive(work, 'ep-0001', { 'data.bin': randomBytes(200_000) });
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await rx.stop();
  await rm(work, { recursive: true, force: true });
});

/** A ReceiverClient built from a real config file and TLS files; closed after the file. */
async function client(o: Partial<ClientSetupOptions> & { makeDispatcher?: (c: Config, t: TlsMaterial) => Agent } = {}) {
  const setup = await clientSetup({ url: rx.url, pki, token: TOKEN, ...o });
  const logs: string[] = [];
  const c = new ReceiverClient({
    config: setup.config,
    tls: setup.tls,
    log: createLogger({ write: (l) => void logs.push(l), journald: false, level: 'debug' }),
    ...(o.makeDispatcher ? { makeDispatcher: o.makeDispatcher } : {}),
  });
  cleanups.push(() => c.close(), () => rm(setup.dir, { recursive: true, force: true }));
  return { c, setup, logs };
}

const put = (c: ReceiverClient, a: Archive = archive, id = 'ep-0001') =>
  c.putEpisode({ id, file: a.path, bytes: a.bytes, sha256: a.sha256 });

/** A server of our own kind on 127.0.0.1:0, closed after the file. */
async function listen<S extends NetServer | TlsServer | HttpsServer>(server: S): Promise<number> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return (server.address() as AddressInfo).port;
}

function expectNoToken(r: Result): void {
  expect(r.message).not.toContain(TOKEN);
  expect(r.body).not.toContain(TOKEN);
  expect(JSON.stringify(r)).not.toContain(TOKEN);
}

describe('ReceiverClient against the reference receiver', () => {
  it('pings: 200, class shipped, and the receiver names itself', async () => {
    const { c } = await client();
    const r = await c.ping();
    expect(r).toMatchObject({ class: 'shipped', status: 200, kind: null });
    expect(JSON.parse(r.body)).toMatchObject({ ok: true, host_id: 'lab-01' });
    expect(r.server).toMatch(/^shipper-receiver\//);
    expectNoToken(r);
  });

  it('uploads an episode: 201, and the stored archive equals the file byte for byte', async () => {
    const { c } = await client();
    const progress: number[] = [];
    const r = await c.putEpisode({ id: 'ep-0001', file: archive.path, bytes: archive.bytes, sha256: archive.sha256, onProgress: (n) => progress.push(n) });
    expect(r).toMatchObject({ class: 'shipped', status: 201, bytesSent: archive.bytes });
    expect(progress.at(-1)).toBe(archive.bytes);
    expect((await readFile(join(rx.store, 'lab-01', 'ep-0001.tar.zst'))).equals(await readFile(archive.path))).toBe(true);
    const again = await put(c);
    expect(again).toMatchObject({ class: 'shipped', status: 200 });
    expectNoToken(r);
  });

  it('reads a 409 for the same id with other contents as fatal, with the reason in the message', async () => {
    const { c } = await client();
    const other = await episodeArchive(await mkdtemp(join(work, 'b-')), 'ep-0001', { 'data.bin': 'different' });
    const r = await put(c, other);
    expect(r).toMatchObject({ class: 'fatal', status: 409 });
    expect(r.message).toContain('conflict');
  });

  it('reads a wrong token as auth, and never puts a token into a result', async () => {
    const { c } = await client({ token: 'wrong-token-0000' });
    for (const r of [await c.ping(), await put(c)]) {
      expect(r).toMatchObject({ class: 'auth', status: 403 });
      expect(r.message).toContain('receiver.token_file');
      expect(JSON.stringify(r)).not.toContain('wrong-token-0000');
      expectNoToken(r);
    }
  });

  it('reads a missing token as auth (401)', async () => {
    const setup = await clientSetup({ url: rx.url, pki });
    const c = new ReceiverClient({ config: setup.config, tls: setup.tls });
    cleanups.push(() => c.close());
    expect(await c.ping()).toMatchObject({ class: 'auth', status: 401 });
  });

  it('reads a wrong URL path as misrouted, never fatal', async () => {
    const { c } = await client({ url: `${rx.url}/prefix` });
    const r = await put(c);
    expect(r).toMatchObject({ class: 'misrouted', status: 404 });
  });
});

describe('ReceiverClient: TLS failures are unreachable, never an answer about the episode', () => {
  it('a client certificate from another CA: the receiver closes the connection (kind reset) and logs why', async () => {
    const { c } = await client({ client: pki.otherClient });
    const r = await c.ping();
    expect(r).toMatchObject({ class: 'unreachable', status: null });
    // Node's TLS server checks the client certificate after the handshake and closes
    // without an alert: undici sees UND_ERR_SOCKET "other side closed".
    expect(r.kind).toBe('reset');
    expect(r.message).toContain('client certificate');
    expect(rx.logs.some((l) => /event=tls_refused .*reason=(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/.test(l))).toBe(true);
    expect((await put(c)).class).toBe('unreachable');
  });

  it('no client certificate at all: unreachable, and the receiver logs the missing certificate', async () => {
    const { c } = await client({
      makeDispatcher: (config, tls) => new Agent({ connect: { ca: tls.ca, rejectUnauthorized: true, timeout: config.receiver.connectTimeoutMs } }),
    });
    const r = await c.ping();
    expect(r).toMatchObject({ class: 'unreachable', status: null });
    expect(['reset', 'tls_client_cert']).toContain(r.kind);
    expect(rx.logs.some((l) => /event=tls_refused .*code=ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE/.test(l))).toBe(true);
  });

  it('a receiver certificate from another CA is tls_server_cert', async () => {
    const other = await startReceiver({ tls: { ca: pki.ca.certPem, cert: pki.otherServer.certPem, key: pki.otherServer.keyPem } });
    cleanups.push(() => other.stop());
    const { c } = await client({ url: other.url });
    for (const r of [await c.ping(), await put(c)]) {
      expect(r).toMatchObject({ class: 'unreachable', kind: 'tls_server_cert', status: null, bytesSent: 0 });
      expect(r.message).toContain('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    }
  });

  it('a receiver certificate for another name is tls_server_cert, and server_name can name the right one', async () => {
    const wrong = await startReceiver({ tls: { ca: pki.ca.certPem, cert: pki.wrongNameServer.certPem, key: pki.wrongNameServer.keyPem } });
    cleanups.push(() => wrong.stop());
    const { c } = await client({ url: wrong.url });
    const r = await c.ping();
    expect(r).toMatchObject({ class: 'unreachable', kind: 'tls_server_cert' });
    expect(r.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
    const named = await client({ url: wrong.url, serverName: 'wrong.example' });
    expect((await named.c.ping()).status).toBe(200);
  });
});

describe('ReceiverClient: the network', () => {
  it('a closed port is refused', async () => {
    const server = createNetServer();
    const port = await listen(server);
    await new Promise((r) => server.close(r));
    const { c } = await client({ url: `https://127.0.0.1:${port}` });
    const r = await c.ping();
    expect(r).toMatchObject({ class: 'unreachable', kind: 'refused' });
    expectNoToken(r);
  });

  it('a server that accepts and never speaks TLS times out within connect_timeout_s, without hanging', async () => {
    const port = await listen(createNetServer(() => {}));
    const { c } = await client({ url: `https://127.0.0.1:${port}`, connectTimeoutS: 1 });
    const started = Date.now();
    const r = await put(c);
    expect(r).toMatchObject({ class: 'unreachable', kind: 'connect_timeout' });
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('a receiver that accepts the request and stops reading mid-upload is idle_timeout', async () => {
    const server = createTlsServer({ ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem, requestCert: true, rejectUnauthorized: true }, (socket) => {
      // Read the request head and a little of the body, then never read again.
      socket.once('data', () => socket.pause());
      socket.on('error', () => {});
    });
    const port = await listen(server);
    const big = join(work, 'big.tar.zst');
    await writeFile(big, randomBytes(48 * 1024 * 1024));
    const { c } = await client({ url: `https://127.0.0.1:${port}`, idleTimeoutS: 1 });
    const started = Date.now();
    const r = await c.putEpisode({ id: 'ep-big', file: big, bytes: 48 * 1024 * 1024, sha256: Buffer.alloc(32) });
    expect(r).toMatchObject({ class: 'unreachable', kind: 'idle_timeout' });
    expect(r.bytesSent).toBeGreaterThan(0);
    expect(r.bytesSent).toBeLessThan(48 * 1024 * 1024);
    expect(Date.now() - started).toBeLessThan(10_000);
    await rm(big);
  });

  it('a 503 with Retry-After: 7 is transient with retryAfterMs 7000', async () => {
    const server = createHttpsServer({ ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(503, { 'retry-after': '7', 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'busy', detail: `seen ${req.headers['x-shipper-host']}` }));
      });
    });
    const port = await listen(server);
    const { c } = await client({ url: `https://127.0.0.1:${port}` });
    for (const r of [await c.ping(), await put(c)]) {
      expect(r).toMatchObject({ class: 'transient', status: 503, retryAfterMs: 7000 });
      expect(r.message).toContain('busy');
      expectNoToken(r);
    }
  });
});

describe('ReceiverClient: certificate rotation', () => {
  it('uses a client certificate and key replaced on disk for the next request', async () => {
    const dir = await mkdtemp(join(work, 'rot-'));
    const certPath = join(dir, 'client.pem');
    const keyPath = join(dir, 'client.key');
    await copyFile(pki.client.cert, certPath);
    await copyFile(pki.client.key, keyPath);
    await chmod(keyPath, 0o600);
    const first = pki.client;
    const { c, logs } = await client({ client: { ...first, cert: certPath, key: keyPath } });
    expect((await c.ping()).status).toBe(200);
    const seen = () => rx.logs.filter((l) => l.includes('event=ping')).at(-1) ?? '';
    expect(seen()).toContain(`client_serial=${first.serial}`);

    const next = await pki.issueClient('lab-01');
    // Renewal the way cert-manager-like tools do it: write beside, rename over.
    await writeFile(`${certPath}.new`, next.certPem);
    await writeFile(`${keyPath}.new`, next.keyPem, { mode: 0o600 });
    await rename(`${keyPath}.new`, keyPath);
    await rename(`${certPath}.new`, certPath);

    expect((await c.ping()).status).toBe(200);
    expect(seen()).toContain(`client_serial=${next.serial}`);
    expect(logs.some((l) => l.includes('event=tls_rotated'))).toBe(true);
    const rotated = await episodeArchive(dir, 'ep-rotated');
    expect((await put(c, rotated, 'ep-rotated')).status).toBe(201);
    expect(rx.logs.filter((l) => l.includes('id=ep-rotated')).at(-1)).toContain(`client_serial=${next.serial}`);
  });
});
