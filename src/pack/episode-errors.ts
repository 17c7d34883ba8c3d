// How file-system trouble inside an episode becomes a ShipperError. The split matters to
// the queue: CHANGED is retried on a later pass (the recorder is still at work, or someone
// touched the folder), UNREADABLE is quarantined (no retry will fix it without a person),
// IO is anything else and keeps the errno in `cause`.

import { ErrorCodes, errnoOf, fsError, ShipperError } from '../errors.js';

/** Why an episode changed under the packer; the `reason` detail of SHIP_EPISODE_CHANGED. */
export type ChangeReason =
  | 'vanished'
  | 'type_changed'
  | 'replaced'
  | 'size_changed'
  | 'mtime_changed'
  | 'grew'
  | 'shrank'
  | 'folder_changed';

const CHANGE_TEXT: Record<ChangeReason, string> = {
  vanished: 'vanished',
  type_changed: 'changed type (file, folder, link)',
  replaced: 'was replaced by another file',
  size_changed: 'changed size',
  mtime_changed: 'was modified',
  grew: 'grew',
  shrank: 'shrank',
  folder_changed: 'gained or lost entries',
};

export function changed(episodeDir: string, rel: string, reason: ChangeReason, cause?: unknown): ShipperError {
  const shown = rel === '' ? '.' : rel;
  return new ShipperError(
    ErrorCodes.EPISODE_CHANGED,
    `pack ${episodeDir}: ${shown} ${CHANGE_TEXT[reason]} while it was packed; the pack is retried on a later pass`,
    { cause, details: { path: rel, reason } },
  );
}

export function permissionDenied(episodeDir: string, rel: string, what: string, err: unknown): ShipperError {
  const errno = errnoOf(err) ?? 'EACCES';
  const shown = rel === '' ? '.' : rel;
  return new ShipperError(
    ErrorCodes.EPISODE_UNREADABLE,
    `pack ${episodeDir}: cannot ${what} ${shown}: permission denied (${errno}); let the shipper's user read ` +
      `every file and enter every folder (e.g. chmod -R u+rX or a group with g+rX), then requeue the episode`,
    { cause: err, details: { path: rel, reason: 'permission_denied', errno } },
  );
}

/** A name as an operator can type it back: invalid UTF-8 bytes shown as \xNN. */
export function showBytes(name: Buffer): string {
  let out = '';
  let i = 0;
  while (i < name.length) {
    const len = utf8SequenceLength(name, i);
    if (len === 0) {
      out += `\\x${name[i]!.toString(16).padStart(2, '0')}`;
      i += 1;
    } else {
      out += name.subarray(i, i + len).toString('utf8');
      i += len;
    }
  }
  return out;
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 when the byte there starts none. */
function utf8SequenceLength(b: Buffer, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (len === 0 || i + len > b.length) return 0;
  return b.subarray(i, i + len).toString('utf8').includes('\ufffd') ? 0 : len;
}

export function nonUtf8(episodeDir: string, rel: string, kind: 'name' | 'link_target'): ShipperError {
  const what = kind === 'name' ? 'its name' : 'its symbolic link target';
  return new ShipperError(
    ErrorCodes.EPISODE_UNREADABLE,
    `pack ${episodeDir}: ${rel} cannot be archived: ${what} is not valid UTF-8 (tar names are UTF-8); ` +
      `rename it (e.g. convmv -f latin1 -t utf-8 -r --notest) and requeue the episode`,
    { details: { path: rel, reason: kind === 'name' ? 'non_utf8_name' : 'non_utf8_link_target' } },
  );
}

/**
 * Map a failed lstat/readdir/open/read on `rel`: EACCES/EPERM → UNREADABLE; a path that
 * is gone or no longer what lstat saw (ENOENT, ENOTDIR, ELOOP from O_NOFOLLOW, ENXIO from
 * a socket) → CHANGED; anything else → SHIP_IO with the errno.
 */
export function episodeFsError(episodeDir: string, rel: string, what: string, err: unknown): ShipperError {
  if (err instanceof ShipperError) return err;
  switch (errnoOf(err)) {
    case 'EACCES':
    case 'EPERM':
      return permissionDenied(episodeDir, rel, what, err);
    case 'ENOENT':
      return changed(episodeDir, rel, 'vanished', err);
    case 'ENOTDIR':
    case 'ELOOP':
    case 'ENXIO':
      return changed(episodeDir, rel, 'type_changed', err);
    default:
      return fsError(`pack ${episodeDir}: ${what} ${rel === '' ? '.' : rel}`, err);
  }
}
