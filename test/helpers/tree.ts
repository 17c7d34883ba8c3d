// Compare what the receiver stored with what the recorder wrote, the way an operator would:
// the real `zstd -dc | tar -x` into a temp folder, then `diff -r --no-dereference`.

import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Extract a .tar.zst with the real zstd and GNU tar into a new temp folder. */
export async function extract(archive: string): Promise<string> {
  const into = await mkdtemp(join(tmpdir(), 'shipper-extract-'));
  await new Promise<void>((resolve, reject) => {
    const z = spawn('zstd', ['-dc', '-q', archive], { stdio: ['ignore', 'pipe', 'inherit'] });
    const t = spawn('tar', ['-x', '-C', into], { stdio: ['pipe', 'inherit', 'inherit'] });
    z.stdout.pipe(t.stdin);
    let left = 2;
    const done = (code: number | null, who: string) => {
      if (code !== 0) reject(new Error(`${who} exited ${code}`));
      else if (--left === 0) resolve();
    };
    z.on('close', (c) => done(c, 'zstd'));
    t.on('close', (c) => done(c, 'tar'));
  });
  return into;
}

/** `diff -r --no-dereference a b`: null when equal, else diff's output. */
export async function diffTrees(a: string, b: string, exclude: string[] = []): Promise<string | null> {
  try {
    await run('diff', ['-r', '--no-dereference', ...exclude.flatMap((x) => ['-x', x]), a, b]);
    return null;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}` || String(err);
  }
}

/** The stored archive of `id` extracts to a tree equal to `source` (an episode folder). */
export async function storedEquals(archive: string, id: string, source: string, exclude: string[] = []): Promise<string | null> {
  const into = await extract(archive);
  try {
    return await diffTrees(join(into, id), source, exclude);
  } finally {
    await rm(into, { recursive: true, force: true });
  }
}
