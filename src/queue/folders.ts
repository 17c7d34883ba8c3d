// The data folders, checked (and the missing ones created) before any episode moves:
// every folder must exist or be creatable, be a writable directory, and all five must sit
// on ONE filesystem, because every move between them must be a rename(2). A failure is a
// configuration error (exit 78) that names the key, the folder and the fix.

import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { configError } from '../config/config-error.js';
import type { Config, Paths } from '../config/schema.js';
import { errnoOf } from '../errors.js';

export const FOLDER_KEYS = ['episodes', 'outbox', 'shipped', 'quarantine', 'state'] as const;
export type FolderKey = (typeof FOLDER_KEYS)[number];

function keyOf(k: FolderKey): string {
  return `paths.${k}`;
}

async function statDir(config: Config, key: string, path: string) {
  try {
    const st = await stat(path);
    if (!st.isDirectory()) throw configError(config.file, key, `${path} is not a folder`, 'point it at a folder');
    return st;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    if (err instanceof Error && 'code' in err && err.code === 'SHIP_CONFIG_INVALID') throw err;
    throw configError(config.file, key, `cannot stat ${path} (${errnoOf(err) ?? 'error'})`, 'check the permissions of its parent folders', err);
  }
}

/**
 * Make sure the data folders exist, are writable and share one filesystem. Creates a
 * missing folder when its parent exists (a fresh data_dir), never a missing data_dir.
 */
export async function prepareFolders(config: Config, options: { create?: boolean } = {}): Promise<{ missing: string[] }> {
  const create = options.create ?? true;
  const missing: string[] = [];
  const p: Paths = config.paths;
  const devs: { key: string; path: string; dev: number }[] = [];
  for (const k of FOLDER_KEYS) {
    const path = p[k];
    const key = keyOf(k);
    let st = await statDir(config, key, path);
    if (!st) {
      const parent = dirname(path);
      const parentSt = await statDir(config, key, parent);
      if (!parentSt) {
        const underData = parent === p.dataDir;
        throw configError(
          config.file,
          underData ? 'paths.data_dir' : key,
          `${parent} does not exist`,
          underData ? `create it (scripts/install-lab-host.sh does), or set paths.data_dir` : `create ${parent}, or fix ${key}`,
        );
      }
      if (!create) {
        // It will be created in its parent: that is the filesystem it will be on.
        missing.push(path);
        devs.push({ key, path: parent, dev: parentSt.dev });
        continue;
      }
      try {
        await mkdir(path, { mode: 0o750 });
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') {
          throw configError(config.file, key, `cannot create ${path} (${errnoOf(err) ?? 'error'})`, `create it and give it to the user the shipper runs as`, err);
        }
      }
      st = (await statDir(config, key, path))!;
    }
    try {
      await access(path, constants.W_OK | constants.X_OK | constants.R_OK);
    } catch (err) {
      const errno = errnoOf(err);
      const fix = errno === 'EROFS' ? 'the filesystem is read-only; remount it read-write or move the data folders' : `run chown -R shipper: ${path} (or give the user the shipper runs as write access)`;
      throw configError(config.file, key, `${path} is not writable (${errno ?? 'error'})`, fix, err);
    }
    devs.push({ key, path, dev: st.dev });
  }
  const first = devs[0];
  for (const d of first ? devs.slice(1) : []) {
    if (d.dev !== first!.dev) {
      throw configError(
        config.file,
        d.key,
        `${d.path} is on another filesystem than ${first!.path} (${first!.key})`,
        'every data folder must be on one filesystem so that moves are atomic renames; put them under one paths.data_dir',
      );
    }
  }
  return { missing };
}
