// The receiver's gates on `<id>/meta.json`, the recorder's marker inside the archive:
// - `--require-code-version`: meta.json must exist and hold a 40-hex `code_version.commit`
//   (400 missing_code_version; 400 bad_meta when it is not JSON).
// - `--window-days N`: `ended_at`, when present, must lie within N days of now, before or
//   after (412 outside_window); an `ended_at` that is not a date is 400 bad_meta. An
//   archive without meta.json or without `ended_at` has nothing to check and passes.

import { Refusal } from './answer.js';

export interface MetaPolicy {
  readonly requireCodeVersion: boolean;
  /** null: no window. */
  readonly windowDays: number | null;
  readonly now: () => Date;
}

/** Larger meta.json files are refused rather than buffered. */
export const MAX_META_BYTES = 1024 * 1024;

const COMMIT = /^[0-9a-fA-F]{40}$/;
const DAY_MS = 86_400_000;

/** Whether the policy needs meta.json at all (else the archive is not searched for it). */
export function needsMeta(p: MetaPolicy): boolean {
  return p.requireCodeVersion || p.windowDays !== null;
}

/** Check the meta.json text (null: the archive has none) against the policy. */
export function checkMeta(id: string, text: Buffer | null, p: MetaPolicy): Refusal | null {
  const name = `${id}/meta.json`;
  if (text === null) {
    return p.requireCodeVersion
      ? new Refusal(400, 'missing_code_version', `the archive has no ${name}, and this receiver requires a code version`)
      : null;
  }
  let meta: unknown;
  try {
    meta = JSON.parse(text.toString('utf8'));
  } catch {
    return new Refusal(400, 'bad_meta', `${name} is not valid JSON`);
  }
  const obj = meta !== null && typeof meta === 'object' && !Array.isArray(meta) ? (meta as Record<string, unknown>) : null;
  if (p.requireCodeVersion) {
    const cv = obj?.code_version;
    const commit = cv !== null && typeof cv === 'object' ? (cv as Record<string, unknown>).commit : undefined;
    if (typeof commit !== 'string' || !COMMIT.test(commit)) {
      return new Refusal(400, 'missing_code_version', `${name} lacks a 40-hex code_version.commit, and this receiver requires one`);
    }
  }
  if (p.windowDays !== null && obj !== null && obj.ended_at !== undefined) {
    const ended = typeof obj.ended_at === 'string' ? Date.parse(obj.ended_at) : Number.NaN;
    if (Number.isNaN(ended)) return new Refusal(400, 'bad_meta', `${name}: ended_at is not an ISO date`);
    const now = p.now().getTime();
    if (Math.abs(now - ended) > p.windowDays * DAY_MS) {
      return new Refusal(
        412,
        'outside_window',
        `${name}: ended_at ${new Date(ended).toISOString()} is more than ${p.windowDays} days from now (${new Date(now).toISOString()})`,
      );
    }
  }
  return null;
}
