// Whatever comes back from the receiver — any status code, huge or binary or missing
// headers, binary bodies, lying Content-Length, chunked or not, cut off — the client
// classifies it without throwing, and the quarantine reason made from it is valid JSON of
// bounded size. A raw TLS server (the test PKI's server certificate) writes the bytes.

import fc from 'fast-check';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { makeReason } from '../../src/queue/quarantine.js';
import { ReceiverClient } from '../../src/transport/client.js';
import { classifyStatus, networkKind, parseRetryAfter } from '../../src/transport/classify.js';
import { makeWorld, type World } from '../helpers/world.js';

const CLASSES = ['shipped', 'fatal', 'auth', 'misrouted', 'transient', 'unreachable'];
const REASON_MAX_BYTES = 64 * 1024;

interface Answer {
  status: number;
  reason: string;
  headers: [string, string][];
  body: Buffer;
  length: 'right' | 'short' | 'long' | 'none' | 'chunked';
  /** Cut the answer after this many bytes (null: whole). */
  cut: number | null;
}

const headerName = fc.oneof(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/), fc.constantFrom('Retry-After', 'Server', 'Content-Type', 'Location', 'Set-Cookie', 'Connection'));
const headerValue = fc.oneof(
  fc.string({ maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, ' ')),
  fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b.filter((x) => x !== 10 && x !== 13)).toString('latin1')),
  fc.integer({ min: 1_000, max: 20_000 }).map((n) => 'h'.repeat(n)),
  fc.constantFrom('0', '-1', '99999999999999999999', 'Wed, 21 Oct 2015 07:28:00 GMT', 'soon', ''),
);
const answer: fc.Arbitrary<Answer> = fc.record({
  status: fc.oneof(fc.integer({ min: 100, max: 999 }), fc.constantFrom(200, 201, 204, 301, 400, 401, 403, 404, 409, 413, 429, 500, 503, 599)),
  reason: fc.oneof(fc.constant('X'), fc.string({ maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, ''))),
  headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }),
  body: fc.oneof(fc.uint8Array({ maxLength: 9000 }).map((b) => Buffer.from(b)), fc.string({ maxLength: 500 }).map((s) => Buffer.from(JSON.stringify({ error: s, detail: s }))), fc.integer({ min: 0, max: 300_000 }).map((n) => randomBytes(n))),
  length: fc.constantFrom('right', 'short', 'long', 'none', 'chunked'),
  cut: fc.option(fc.integer({ min: 0, max: 400 }), { nil: null }),
});

function wire(a: Answer): Buffer {
  const lines = [`HTTP/1.1 ${a.status} ${a.reason}`];
  for (const [k, v] of a.headers) if (!/^(content-length|transfer-encoding)$/i.test(k)) lines.push(`${k}: ${v}`);
  if (a.length === 'right') lines.push(`Content-Length: ${a.body.length}`);
  if (a.length === 'short') lines.push(`Content-Length: ${Math.max(0, a.body.length - 5)}`);
  if (a.length === 'long') lines.push(`Content-Length: ${a.body.length + 100}`);
  if (a.length === 'chunked') lines.push('Transfer-Encoding: chunked');
  lines.push('Connection: close');
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
  const body = a.length === 'chunked' ? Buffer.concat([Buffer.from(`${a.body.length.toString(16)}\r\n`), a.body, Buffer.from('\r\n0\r\n\r\n')]) : a.body;
  const all = Buffer.concat([head, body]);
  return a.cut === null ? all : all.subarray(0, a.cut);
}

let w: World;
let server: Server;
let next: Answer | null = null;
let pingFine = false;
let archive: { file: string; bytes: number; sha256: Buffer };
let client: ReceiverClient;

beforeAll(async () => {
  w = await makeWorld({ receiver: false });
  server = createServer({ ca: w.pki.ca.certPem, cert: w.pki.server.certPem, key: w.pki.server.keyPem, requestCert: true, rejectUnauthorized: true }, (socket: TLSSocket) => {
    let seen = Buffer.alloc(0);
    let answered = false;
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      if (answered) return;
      seen = Buffer.concat([seen, d]);
      if (seen.indexOf('\r\n\r\n') < 0 || !next) return;
      answered = true;
      const ping = seen.subarray(0, 14).toString('latin1') === 'POST /v1/ping ';
      socket.end(ping && pingFine ? wire({ status: 200, reason: 'OK', headers: [], body: Buffer.from('{"ok":true}'), length: 'right', cut: null }) : wire(next));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  await w.writeConfig({ 'receiver.url': `https://127.0.0.1:${(server.address() as AddressInfo).port}`, 'receiver.idle_timeout_s': 2 });
  const { config, tls } = await loadConfig(w.configFile, { env: {} });
  client = new ReceiverClient({ config, tls });
  const data = randomBytes(20_000);
  const file = join(w.dir, 'archive.bin');
  await writeFile(file, data);
  archive = { file, bytes: data.length, sha256: createHash('sha256').update(data).digest() };
});
afterAll(async () => {
  await client?.close();
  await new Promise<void>((r) => server.close(() => r()));
  await w.close();
});

function checkReason(res: Awaited<ReturnType<ReceiverClient['ping']>>): void {
  expect(CLASSES).toContain(res.class);
  const reason = makeReason(Buffer.from('ep-1'), 'lab-01', { reason: 'receiver_rejected', httpStatus: res.status, receiverBody: res.body, detail: res.message }, new Date());
  const text = JSON.stringify(reason, null, 2);
  expect(JSON.parse(text)).toEqual(reason);
  expect(Buffer.byteLength(text)).toBeLessThan(REASON_MAX_BYTES);
  expect(Buffer.byteLength(res.body)).toBeLessThanOrEqual(4096);
}

describe('any answer from the receiver', () => {
  it('is classified by ping() and putEpisode() without throwing, into a bounded, valid reason', async () => {
    await fc.assert(
      fc.asyncProperty(answer, fc.boolean(), async (a, put) => {
        next = a;
        const res = put ? await client.putEpisode({ id: 'ep-1', ...archive }) : await client.ping();
        checkReason(res);
        // A complete answer is classified by its status, an unusable one as unreachable.
        if (res.status !== null) expect(res.class === classifyStatus(res.status) || res.class === 'unreachable').toBe(true);
        else expect(res.class).toBe('unreachable');
      }),
      { numRuns: 150 },
    );
  }, 120_000);

  it('through `shipper --once`: the episode stays, ships or is quarantined per its class, with a valid reason file', async () => {
    pingFine = true;
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(answer, async (a) => {
          next = a;
          const id = `ep-${++n}`;
          await w.makeEpisode(id);
          const r = await w.run(['--once']);
          expect(r.stderr).not.toMatch(/internal error/);
          expect([0, 69, 75, 77]).toContain(r.code);
          const where = (await w.list(w.episodes)).includes(id) ? 'episodes' : (await w.list(w.shipped)).includes(id) ? 'shipped' : 'quarantine';
          if (where === 'quarantine') {
            expect(await w.list(w.quarantine)).toContain(id);
            const text = await readFile(join(w.quarantine, id, 'quarantine_reason.json'), 'utf8');
            expect(Buffer.byteLength(text)).toBeLessThan(REASON_MAX_BYTES);
            const reason = JSON.parse(text) as { http_status: number; receiver_body: string };
            expect(classifyStatus(reason.http_status)).toBe('fatal');
            expect(Buffer.byteLength(reason.receiver_body)).toBeLessThanOrEqual(4096);
          }
          if (where === 'shipped') expect(classifyStatus(a.status)).toBe('shipped');
        }),
        { numRuns: 12 },
      );
    } finally {
      pingFine = false;
    }
  }, 120_000);

  it('the pure classifiers never throw: any integer status, any Retry-After text, any error object', () => {
    fc.assert(
      fc.property(fc.integer(), fc.string(), fc.anything(), (status, retryAfter, err) => {
        expect(CLASSES).toContain(classifyStatus(status));
        const ra = parseRetryAfter(retryAfter);
        expect(ra === undefined || (Number.isFinite(ra) && ra >= 0)).toBe(true);
        expect(typeof networkKind(err)).toBe('string');
      }),
      { numRuns: 2000 },
    );
  });
});
