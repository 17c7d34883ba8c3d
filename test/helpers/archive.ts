// Test archives made the way an operator would: real folders, the real `tar` and `zstd`
// CLIs (argv arrays, no shell). Hostile archives (entries outside `<id>/`, `..`, absolute
// paths) come from GNU tar's own --transform and --absolute-names.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Archive {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: Buffer;
}

export const COMMIT = 'a'.repeat(40);

/** A meta.json text as a recorder writes it. */
export function metaJson(fields: Record<string, unknown> = {}): string {
  return JSON.stringify({
    episode_id: 'x',
    started_at: new Date(Date.now() - 600_000).toISOString(),
    ended_at: new Date(Date.now() - 300_000).toISOString(),
    code_version: { commit: COMMIT, dirty: false },
    ...fields,
  });
}

/** Write `files` (relative path → contents) under `root/<id>/`. */
export async function makeEpisode(root: string, id: string, files: Record<string, string | Buffer>): Promise<string> {
  const dir = join(root, id);
  await mkdir(dir, { recursive: true });
  for (const [rel, contents] of Object.entries(files)) {
    await mkdir(dirname(join(dir, rel)), { recursive: true });
    await writeFile(join(dir, rel), contents);
  }
  return dir;
}

export async function archiveOf(path: string): Promise<Archive> {
  const data = await readFile(path);
  return { path, bytes: (await stat(path)).size, sha256: createHash('sha256').update(data).digest() };
}

/** `zstd` a file into `<file>.zst`. */
export async function zstd(file: string): Promise<Archive> {
  await run('zstd', ['-q', '-f', '-3', file, '-o', `${file}.zst`]);
  return archiveOf(`${file}.zst`);
}

/**
 * `tar -C root -c <members...> | zstd` into `out`. `tarArgs` go before the members
 * (e.g. `--transform`, `-P`).
 */
export async function tarZst(root: string, members: string[], out: string, tarArgs: string[] = []): Promise<Archive> {
  const tarFile = out.replace(/\.zst$/, '');
  await run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', tarFile, ...tarArgs, ...members]);
  return zstd(tarFile);
}

/** An episode folder `id` with `files` (plus a valid meta.json unless given), packed. */
export async function episodeArchive(root: string, id: string, files: Record<string, string | Buffer> = {}): Promise<Archive> {
  await makeEpisode(root, id, { 'meta.json': metaJson({ episode_id: id }), 'data/telemetry.csv': `t,v\n1,${id}\n`, ...files });
  return tarZst(root, [id], join(root, `${id}.tar.zst`));
}
