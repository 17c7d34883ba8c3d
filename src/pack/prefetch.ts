// Small files read ahead of the tar writer, in order and within a budget.
//
// Up to `aheadCount` entries (and `aheadBytes` of small-file data) are read ahead while the
// tar writer works on the head of the queue; each small file is one read (read.ts). On
// the threadpool (slow storage, pacer.ts) that keeps several reads in flight; on the sync
// path it batches the reads. Large files get no prefetch: they are streamed in chunks when
// their turn comes (produce.ts).

import { ErrorCodes, ShipperError } from '../errors.js';
import type { Pacer } from './pacer.js';
import { readWhole } from './read.js';
import type { WalkEntry } from './walk.js';

export interface Item {
  readonly entry: WalkEntry;
  /** The whole file, for regular files of at most `smallFileBytes`; else null. */
  readonly data: Promise<Buffer> | null;
}

export interface PrefetchOptions {
  root: string;
  id: string;
  smallFileBytes: number;
  aheadCount: number;
  aheadBytes: number;
  /** 0 = no limit. */
  maxInputBytes: number;
  pacer: Pacer;
}

const ignore = (): void => {};

/** `entries` as Items, small files' contents already on their way. */
export async function* prefetch(entries: AsyncIterable<WalkEntry>, o: PrefetchOptions): AsyncGenerator<Item, void, undefined> {
  const it = entries[Symbol.asyncIterator]();
  const queue: Item[] = [];
  let queuedBytes = 0;
  let seenBytes = 0;
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && queue.length < o.aheadCount && (queue.length === 0 || queuedBytes < o.aheadBytes)) {
        const r = await it.next();
        if (r.done === true) {
          exhausted = true;
          break;
        }
        const e = r.value;
        let data: Promise<Buffer> | null = null;
        if (e.kind === 'file') {
          const size = Number(e.st.size);
          seenBytes += size;
          if (o.maxInputBytes > 0 && seenBytes > o.maxInputBytes) throw tooLarge(o, seenBytes);
          if (size <= o.smallFileBytes) {
            data = readWhole(o.root, e, o.pacer);
            data.catch(ignore);
            queuedBytes += size;
          }
        }
        queue.push({ entry: e, data });
      }
      const head = queue.shift();
      if (head === undefined) return;
      if (head.data !== null) queuedBytes -= Number(head.entry.st.size);
      yield head;
      await o.pacer.breathe();
    }
  } finally {
    await it.return?.();
  }
}

function tooLarge(o: PrefetchOptions, seen: number): ShipperError {
  return new ShipperError(
    ErrorCodes.EPISODE_TOO_LARGE,
    `pack ${o.root}: the episode holds more than ship.max_episode_bytes = ${o.maxInputBytes} bytes of files ` +
      `(at least ${seen}); raise the limit or have the recorder split the run`,
    { details: { limit: o.maxInputBytes, atLeast: seen } },
  );
}
