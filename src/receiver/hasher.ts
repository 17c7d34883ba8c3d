// The body's digests. sha-256 runs at ~300 MB/s on a CPU without SHA extensions, which is
// slower than loopback TLS: on the main thread it would cap every upload and stall the
// event loop. Large bodies are hashed on a worker thread instead, in parallel with TLS
// decryption and the writes, with at most WORKER_WINDOW bytes in flight to it so memory
// stays bounded. Small bodies are hashed inline, where a thread would cost more than it saves.

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { DigestAlgorithm } from './digest.js';

export interface BodyHasher {
  update(chunk: Buffer): void;
  /** Resolves once the hasher can take more (immediately when inline). */
  ready(): Promise<void> | null;
  digest(): Promise<Map<DigestAlgorithm, Buffer>>;
  destroy(): void;
}

const NODE_NAME: Record<DigestAlgorithm, string> = { 'sha-256': 'sha256', 'sha-512': 'sha512' };

/** Bodies at least this large (or of unknown length) are hashed on a worker thread. */
export const THREAD_MIN_BYTES = 4 * 1024 * 1024;
const WORKER_WINDOW = 16 * 1024 * 1024;

export function inlineHasher(algorithms: readonly DigestAlgorithm[]): BodyHasher {
  const hashes = algorithms.map((a) => [a, createHash(NODE_NAME[a])] as const);
  return {
    update: (chunk) => hashes.forEach(([, h]) => h.update(chunk)),
    ready: () => null,
    digest: async () => new Map(hashes.map(([a, h]) => [a, h.digest()])),
    destroy: () => {},
  };
}

// CommonJS, evaluated by the worker: runs the same in the built receiver and under vitest.
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = workerData.map((name) => createHash(name));
parentPort.on('message', (chunk) => {
  if (chunk === null) {
    parentPort.postMessage({ digests: hashes.map((h) => h.digest()) });
    return;
  }
  for (const h of hashes) h.update(chunk);
  parentPort.postMessage({ done: chunk.byteLength });
});
`;

export function threadHasher(algorithms: readonly DigestAlgorithm[]): BodyHasher {
  const worker = new Worker(THREAD_SOURCE, { eval: true, workerData: algorithms.map((a) => NODE_NAME[a]) });
  worker.unref();
  let inFlight = 0;
  let failure: Error | null = null;
  let waiter: (() => void) | null = null;
  let result: ((d: Buffer[]) => void) | null = null;
  const wake = () => {
    const w = waiter;
    waiter = null;
    w?.();
  };
  worker.on('message', (m: { done?: number; digests?: Uint8Array[] }) => {
    if (m.done !== undefined) {
      inFlight -= m.done;
      if (inFlight <= WORKER_WINDOW / 2) wake();
    } else if (m.digests) {
      result?.(m.digests.map((d) => Buffer.from(d)));
    }
  });
  worker.on('error', (err) => {
    failure = err;
    wake();
  });
  return {
    update(chunk) {
      // One copy into a buffer of its own, whose memory then moves to the worker.
      const copy = new Uint8Array(chunk.length);
      copy.set(chunk);
      inFlight += copy.byteLength;
      worker.postMessage(copy, [copy.buffer]);
    },
    ready() {
      if (failure) return Promise.reject(failure);
      if (inFlight <= WORKER_WINDOW) return null;
      return new Promise<void>((resolve, reject) => {
        waiter = () => (failure ? reject(failure) : resolve());
      });
    },
    async digest() {
      if (failure) throw failure;
      const digests = new Promise<Buffer[]>((resolve, reject) => {
        result = resolve;
        void once(worker, 'error').then(([err]) => reject(err as Error));
      });
      worker.postMessage(null);
      const list = await digests;
      void worker.terminate();
      return new Map(algorithms.map((a, i) => [a, list[i]!]));
    },
    destroy() {
      void worker.terminate();
    },
  };
}
