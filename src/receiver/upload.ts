// Receive one request body: every chunk is hashed, written to the temp file and fed to the
// archive verification, with backpressure from both (the socket is paused while either is
// behind, so memory stays bounded whatever the body size). Per chunk there is one hash
// update and two writes; no per-byte JavaScript work.

import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Writable } from 'node:stream';
import { Refusal } from './answer.js';
import type { DigestAlgorithm } from './digest.js';

export interface Received {
  readonly bytes: number;
  readonly digests: ReadonlyMap<DigestAlgorithm, Buffer>;
}

export interface ReceiveOptions {
  /** The temp file; it must fsync before 'close' (the body counts as written then). */
  readonly file: Writable;
  /** Where the compressed bytes are checked; null once it no longer wants them. */
  readonly verifier: Writable;
  /** 413 past this many bytes; null for no limit. */
  readonly maxBytes: number | null;
  /** sha-256 is always computed; add the others the client announced. */
  readonly algorithms: readonly DigestAlgorithm[];
}

export class UploadAborted extends Error {
  readonly code = 'UPLOAD_ABORTED';
}

const WRITE_BUFFER = 4 * 1024 * 1024;

/** Drive one body into `file` and `verifier`. `stop(reason)` ends it early. */
export function receiveBody(req: IncomingMessage, o: ReceiveOptions): { done: Promise<Received>; stop(reason: Error): void } {
  const hashes = new Map<DigestAlgorithm, Hash>([['sha-256', createHash('sha256')]]);
  if (o.algorithms.includes('sha-512')) hashes.set('sha-512', createHash('sha512'));
  const file = o.file;
  let bytes = 0;

  const sink = new Writable({
    highWaterMark: WRITE_BUFFER,
    write(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (o.maxBytes !== null && bytes > o.maxBytes) {
        cb(new Refusal(413, 'too_large', `the body is larger than this receiver's limit of ${o.maxBytes} bytes`));
        return;
      }
      for (const h of hashes.values()) h.update(chunk);
      let pending = 1;
      const next = () => {
        if (--pending === 0) cb();
      };
      if (!file.write(chunk)) {
        pending++;
        file.once('drain', next);
      }
      if (!o.verifier.destroyed && !o.verifier.write(chunk)) {
        pending++;
        o.verifier.once('drain', next);
      }
      next();
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
      reject(err);
    };
    file.on('error', fail);
    sink.on('error', fail);
    sink.on('finish', () => {
      resolve({ bytes, digests: new Map([...hashes].map(([alg, h]) => [alg, h.digest()])) });
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
