// Receive one request body: every chunk is hashed, written to the temp file and fed to the
// archive verification, with backpressure from all three (the socket is paused while any
// is behind, so memory stays bounded whatever the body size). Chunks that queue up while
// a batch is being written are joined and handled as one (writev), so a fast upload costs
// a few large writes rather than one per TLS record; there is no per-byte JavaScript work.

import type { IncomingMessage } from 'node:http';
import { Writable } from 'node:stream';
import { Refusal } from './answer.js';
import type { DigestAlgorithm } from './digest.js';
import { inlineHasher, THREAD_MIN_BYTES, threadHasher } from './hasher.js';

export interface Received {
  readonly bytes: number;
  readonly digests: ReadonlyMap<DigestAlgorithm, Buffer>;
}

export interface ReceiveOptions {
  /** The temp file; it must fsync before 'close' (the body counts as written then). */
  readonly file: Writable;
  /** Where the compressed bytes are checked. */
  readonly verifier: Writable;
  /** 413 past this many bytes; null for no limit. */
  readonly maxBytes: number | null;
  /** sha-256 is always computed; add the others the client announced. */
  readonly algorithms: readonly DigestAlgorithm[];
}

export class UploadAborted extends Error {
  readonly code = 'UPLOAD_ABORTED';
}

const BATCH_BYTES = 4 * 1024 * 1024;

/** Drive one body into `file` and `verifier`. `stop(reason)` ends it early. */
export function receiveBody(req: IncomingMessage, o: ReceiveOptions): { done: Promise<Received>; stop(reason: Error): void } {
  const algorithms: DigestAlgorithm[] = ['sha-256', ...o.algorithms.filter((a) => a !== 'sha-256')];
  const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']);
  const hasher = declared !== null && declared < THREAD_MIN_BYTES ? inlineHasher(algorithms) : threadHasher(algorithms);
  const file = o.file;
  let bytes = 0;

  const handle = (batch: Buffer, cb: (err?: Error | null) => void) => {
    bytes += batch.length;
    if (o.maxBytes !== null && bytes > o.maxBytes) {
      cb(new Refusal(413, 'too_large', `the body is larger than this receiver's limit of ${o.maxBytes} bytes`));
      return;
    }
    hasher.update(batch);
    const waits: Promise<unknown>[] = [];
    const ready = hasher.ready();
    if (ready) waits.push(ready);
    if (!file.write(batch)) waits.push(new Promise((r) => file.once('drain', r)));
    if (!o.verifier.destroyed && !o.verifier.write(batch)) waits.push(new Promise((r) => o.verifier.once('drain', r)));
    if (waits.length === 0) cb();
    else Promise.all(waits).then(() => cb(), cb);
  };

  const sink = new Writable({
    highWaterMark: BATCH_BYTES,
    writev(chunks, cb) {
      handle(chunks.length === 1 ? (chunks[0]!.chunk as Buffer) : Buffer.concat(chunks.map((c) => c.chunk as Buffer)), cb);
    },
    final(cb) {
      o.verifier.end();
      file.once('close', () => cb());
      file.end();
    },
  });

  let fail!: (err: Error) => void;
  const done = new Promise<Received>((resolve, reject) => {
    fail = (err) => {
      req.unpipe(sink);
      sink.destroy();
      file.destroy();
      hasher.destroy();
      reject(err);
    };
    file.on('error', fail);
    sink.on('error', fail);
    sink.on('finish', () => {
      hasher.digest().then((digests) => resolve({ bytes, digests }), fail);
    });
    // The request closed before its body was read to the end: an aborted upload. (Not
    // `req.complete`: the parser may have seen the whole body when the connection dies, and
    // Node then drops what was not yet read, without an 'error'.)
    req.on('close', () => {
      if (!req.readableEnded) fail(new UploadAborted('the connection closed before the body was read to its end'));
    });
    req.on('error', (err) => fail(new UploadAborted(`the upload broke off (${err.message})`)));
    if (req.destroyed) fail(new UploadAborted('the connection closed before the body was read'));
  });
  req.pipe(sink);
  return { done, stop: (reason) => fail(reason) };
}
