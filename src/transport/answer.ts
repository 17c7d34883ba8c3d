// What came back from the receiver, made fit for people and for the reason file: at most
// the first 4 KiB of a body, never a character cut in two, and one line that says what
// the answer means and what to check.

import { StringDecoder } from 'node:string_decoder';
import { errorFields } from '../log/logger.js';
import type { OutcomeClass } from './classify.js';

export const BODY_KEEP_BYTES = 4096;

/** The longest prefix of `text` whose UTF-8 fits in `max` bytes, never a character cut in two. */
export function utf8Prefix(text: string, max: number): string {
  const bytes = Buffer.from(text, 'utf8');
  // A cut sequence would decode to U+FFFD, three bytes: past the limit. StringDecoder holds
  // an incomplete trailing sequence back instead.
  return bytes.length <= max ? text : new StringDecoder('utf8').write(bytes.subarray(0, max));
}

export function headerString(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? (v[0] ?? null) : v;
}

/** The low-level reason in brackets, without anything that could be a secret. */
export function errorDetail(err: unknown): string {
  const f = errorFields(err);
  const code = typeof f.code === 'string' ? f.code : typeof f.errno === 'string' ? f.errno : undefined;
  return code ? ` [${code}]` : '';
}

/**
 * Read at most BODY_KEEP_BYTES (+ `margin`, so that a secret straddling the cut is still
 * whole for the scrub) of a response body and drop the rest.
 */
export async function readSome(body: AsyncIterable<Buffer> & { destroy?: () => void }, touch: () => void, margin = 0): Promise<string> {
  const parts: Buffer[] = [];
  const keep = BODY_KEEP_BYTES + margin;
  let n = 0;
  try {
    for await (const chunk of body) {
      touch();
      if (n < keep) {
        parts.push(chunk.subarray(0, keep - n));
        n += Math.min(chunk.length, keep - n);
      }
      if (n >= keep) break;
    }
  } catch {
    // A body that breaks off after the status line still has a usable status.
  }
  body.destroy?.();
  return Buffer.concat(parts).toString('utf8');
}

export function describeStatus(status: number, cls: OutcomeClass, target: string, body: string): string {
  let reason = '';
  try {
    const j = JSON.parse(body) as { error?: unknown; detail?: unknown };
    if (typeof j.error === 'string') reason = `: ${j.error}${typeof j.detail === 'string' ? ` (${j.detail})` : ''}`;
  } catch {
    const line = body.split('\n')[0]?.trim() ?? '';
    if (line) reason = `: ${line.slice(0, 200)}`;
  }
  switch (cls) {
    case 'shipped':
      return `${target} answered ${status}${reason}`;
    case 'fatal':
      return `${target} rejected the episode with ${status}${reason}`;
    case 'auth':
      return `${target} refused our credentials with ${status}${reason}; check receiver.token_file and that the receiver knows this host's certificate`;
    case 'misrouted':
      return `${target} answered ${status}${reason}; this looks like a wrong receiver.url (path prefix?) or a proxy in front of the receiver`;
    case 'transient':
      return `${target} answered ${status}${reason}; the receiver is busy or failing, retrying later`;
    case 'unreachable':
      return `${target}: no answer`;
  }
}
