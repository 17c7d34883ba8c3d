// The benchmark's datasets, generated into a temp folder from a fixed seed, so every host
// packs the same bytes. Generation runs in worker threads (one per core): it is not timed,
// but it should not dominate the run either.
//
//   jsonl    semi-compressible telemetry: JSON lines with timestamps and noisy numbers
//            (zstd -3 makes them about 2.3x smaller), the shape of a real recording
//   random   incompressible bytes (the throttle scenario wants archive size ≈ input size)
//   small    many 4 KB text files in folders of 200

import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { URL } from 'node:url';

const WORKER = new URL('./gen-worker.mjs', import.meta.url);

/** Run generation jobs ({kind, path, bytes, seed, ...}) on a small pool of workers. */
export async function generate(jobs) {
  const queue = [...jobs];
  const n = Math.max(1, Math.min(availableParallelism(), queue.length));
  await Promise.all(
    Array.from({ length: n }, async () => {
      const w = new Worker(WORKER);
      try {
        for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
          await new Promise((resolve, reject) => {
            const onMsg = (m) => {
              w.off('error', reject);
              if (m.ok) resolve();
              else reject(new Error(`generate ${job.path}: ${m.error}`));
            };
            w.once('message', onMsg);
            w.once('error', reject);
            w.postMessage(job);
          });
        }
      } finally {
        await w.terminate();
      }
    }),
  );
}

const COMMIT = 'c0ffee0000000000000000000000000000c0ffee';

/** meta.json, the ready marker, written last and aged past settle_s. */
export async function writeMeta(dir, id) {
  const now = Date.now();
  const meta = {
    episode_id: id,
    started_at: new Date(now - 3_600_000).toISOString(),
    ended_at: new Date(now - 60_000).toISOString(),
    code_version: { commit: COMMIT, dirty: false },
  };
  const path = join(dir, 'meta.json');
  await writeFile(path, JSON.stringify(meta, null, 2) + '\n');
  const past = new Date(now - 120_000);
  await utimes(path, past, past);
}

/**
 * One episode folder `<parent>/<id>` holding `bytes` of JSON lines split into files of at
 * most `fileBytes`, plus a small log and meta.json. Returns its generation jobs and a
 * finishing step (meta.json), so that several episodes generate in parallel.
 */
export async function jsonlEpisode(parent, id, bytes, fileBytes, seed) {
  const dir = join(parent, id);
  await mkdir(join(dir, 'telemetry'), { recursive: true });
  const jobs = [];
  let left = bytes;
  for (let i = 0; left > 0; i++) {
    const n = Math.min(left, fileBytes);
    jobs.push({ kind: 'jsonl', path: join(dir, 'telemetry', `part-${String(i).padStart(3, '0')}.jsonl`), bytes: n, seed: seed * 1000 + i + 1 });
    left -= n;
  }
  await writeFile(join(dir, 'recorder.log'), `episode ${id}: ${jobs.length} telemetry parts, ${bytes} bytes\n`);
  return { jobs, finish: () => writeMeta(dir, id) };
}

/** One episode of `bytes` incompressible bytes in files of at most `fileBytes`. */
export async function randomEpisode(parent, id, bytes, fileBytes, seed) {
  const dir = join(parent, id);
  await mkdir(dir, { recursive: true });
  const jobs = [];
  let left = bytes;
  for (let i = 0; left > 0; i++) {
    const n = Math.min(left, fileBytes);
    jobs.push({ kind: 'random', path: join(dir, `blob-${String(i).padStart(3, '0')}.bin`), bytes: n, seed: seed * 1000 + i + 1 });
    left -= n;
  }
  return { jobs, finish: () => writeMeta(dir, id) };
}

/** One episode of `count` small text files of `fileBytes` each, 200 to a folder. */
export async function smallFilesEpisode(parent, id, count, fileBytes, seed) {
  const dir = join(parent, id);
  const jobs = [];
  const perDir = 200;
  for (let d = 0; d * perDir < count; d++) {
    const sub = join(dir, `d${String(d).padStart(4, '0')}`);
    await mkdir(sub, { recursive: true });
    jobs.push({ kind: 'small', path: sub, count: Math.min(perDir, count - d * perDir), bytes: fileBytes, seed: seed * 100_000 + d + 1 });
  }
  return { jobs, finish: () => writeMeta(dir, id) };
}

/** Build episodes from their specs (the results of the functions above) in parallel. */
export async function buildEpisodes(specs) {
  await generate(specs.flatMap((s) => s.jobs));
  for (const s of specs) await s.finish();
}
