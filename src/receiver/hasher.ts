// The body's digests. sha-256 runs at ~300 MB/s on a CPU without SHA extensions, which is
// slower than loopback TLS: on the main thread it would cap every upload and stall the
// event loop. Large bodies are hashed on a worker thread instead, in parallel with TLS
// decryption and the writes, with at most WORKER_WINDOW bytes in flight to it so memory
// stays bounded. Small bodies are hashed inline, where a thread would cost more than it saves.
//
// One worker serves every upload of the process, each body a stream of its own (by id),
// and lives as long as the process (unref'ed): starting a thread costs ~50-100 ms of CPU
// (a V8 isolate and Node's bootstrap), more than hashing a typical 10 MB upload, and a
// backlog arrives as hundreds of them. If the worker dies, the uploads hashing on it fail
// and the next upload starts a new one.

import { createHash } from 'node:crypto';
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
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const streams = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'open') {
    streams.set(m.id, m.algorithms.map((name) => createHash(name)));
  } else if (m.op === 'data') {
    for (const h of streams.get(m.id) ?? []) h.update(m.chunk);
    parentPort.postMessage({ id: m.id, done: m.chunk.byteLength });
  } else if (m.op === 'end') {
    const hashes = streams.get(m.id) ?? [];
    streams.delete(m.id);
    parentPort.postMessage({ id: m.id, digests: hashes.map((h) => h.digest()) });
  } else if (m.op === 'drop') {
    streams.delete(m.id);
  }
});
`;

interface Stream {
  onDone(bytes: number): void;
  onDigests(d: Uint8Array[]): void;
  onFailure(err: Error): void;
}

/** The shared worker and the streams it hashes; replaced when it dies. */
class HashWorker {
  readonly #worker: Worker;
  readonly #streams = new Map<number, Stream>();
  #next = 1;
  #dead: Error | null = null;

  constructor(onDeath: () => void) {
    this.#worker = new Worker(THREAD_SOURCE, { eval: true });
    this.#worker.unref();
    this.#worker.on('message', (m: { id: number; done?: number; digests?: Uint8Array[] }) => {
      const s = this.#streams.get(m.id);
      if (!s) return;
      if (m.done !== undefined) s.onDone(m.done);
      else if (m.digests) {
        this.#streams.delete(m.id);
        s.onDigests(m.digests);
      }
    });
    const die = (err: Error) => {
      if (this.#dead) return;
      this.#dead = err;
      onDeath();
      for (const s of this.#streams.values()) s.onFailure(err);
      this.#streams.clear();
    };
    this.#worker.on('error', die);
    this.#worker.on('exit', (code) => die(new Error(`the hashing thread exited (${code})`)));
  }

  get dead(): Error | null {
    return this.#dead;
  }

  open(algorithms: readonly string[], s: Stream): number {
    const id = this.#next++;
    this.#streams.set(id, s);
    this.#worker.postMessage({ op: 'open', id, algorithms });
    return id;
  }

  data(id: number, chunk: Uint8Array): void {
    this.#worker.postMessage({ op: 'data', id, chunk }, [chunk.buffer as ArrayBuffer]);
  }

  end(id: number): void {
    this.#worker.postMessage({ op: 'end', id });
  }

  drop(id: number): void {
    if (!this.#streams.delete(id) || this.#dead) return;
    this.#worker.postMessage({ op: 'drop', id });
  }
}

let shared: HashWorker | null = null;
function hashWorker(): HashWorker {
  shared ??= new HashWorker(() => (shared = null));
  return shared;
}

export function threadHasher(algorithms: readonly DigestAlgorithm[]): BodyHasher {
  let inFlight = 0;
  let failure: Error | null = null;
  let waiter: (() => void) | null = null;
  let result: { resolve: (d: Uint8Array[]) => void; reject: (err: Error) => void } | null = null;
  const wake = () => {
    const w = waiter;
    waiter = null;
    w?.();
  };
  const worker = hashWorker();
  const id = worker.open(
    algorithms.map((a) => NODE_NAME[a]),
    {
      onDone(bytes) {
        inFlight -= bytes;
        if (inFlight <= WORKER_WINDOW / 2) wake();
      },
      onDigests(d) {
        result?.resolve(d);
      },
      onFailure(err) {
        failure = err;
        wake();
        result?.reject(err);
      },
    },
  );
  return {
    update(chunk) {
      if (failure) return;
      // One copy into a buffer of its own, whose memory then moves to the worker.
      const copy = new Uint8Array(chunk.length);
      copy.set(chunk);
      inFlight += copy.byteLength;
      worker.data(id, copy);
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
      const digests = new Promise<Uint8Array[]>((resolve, reject) => (result = { resolve, reject }));
      worker.end(id);
      const list = await digests;
      return new Map(algorithms.map((a, i) => [a, Buffer.from(list[i]!)]));
    },
    destroy() {
      worker.drop(id);
    },
  };
}
