// Names inside the data folders. Episode ids are validated before any path is built from
// them; folders whose names are not ids are only ever handled as opaque Buffers.

import { join } from 'node:path';
import type { Paths } from '../config/schema.js';

export const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const ARCHIVE_SUFFIX = '.tar.zst';
export const SIDECAR_SUFFIX = '.pack.json';
export const REASON_FILE = 'quarantine_reason.json';
export const REQUEUE_PREFIX = '.requeue-';

export function isValidId(name: string): boolean {
  return ID_RE.test(name);
}

/** The id a name stands for, or null when the bytes are not a valid id. */
export function idOf(name: Buffer | string): string | null {
  const s = typeof name === 'string' ? name : name.toString('latin1');
  return isValidId(s) ? s : null;
}

/** A printable rendering of any folder name (non-UTF-8 bytes become U+FFFD). */
export function printable(name: Buffer | string): string {
  return typeof name === 'string' ? name : name.toString('utf8');
}

function assertId(id: string): void {
  if (!isValidId(id)) throw new Error(`internal: ${JSON.stringify(id)} is not an episode id`);
}

export function episodeDir(p: Paths, id: string): string {
  assertId(id);
  return join(p.episodes, id);
}

export function archivePath(p: Paths, id: string): string {
  assertId(id);
  return join(p.outbox, id + ARCHIVE_SUFFIX);
}

export function sidecarPath(p: Paths, id: string): string {
  assertId(id);
  return join(p.outbox, id + SIDECAR_SUFFIX);
}

/** The sidecar written next to each complete archive. */
export interface Sidecar {
  id: string;
  sha256: string;
  bytes: number;
  fingerprint: string;
  input_bytes: number;
  zstd_level: number;
  packed_at: string;
  shipper_version: string;
}
