// `Content-Digest` (RFC 9530): a structured-field dictionary (RFC 8941) such as
// `sha-256=:<base64>:, sha-512=:<base64>:`. The receiver checks every algorithm it knows
// (sha-256, sha-512) that the client listed, and ignores the others, including the ones
// RFC 9530 deprecates (md5, sha, unixsum, unixcksum, adler, crc32c). A header that lists
// only unknown algorithms counts as absent: the body is hashed anyway, and a PUT without
// the header is accepted so that plain `curl -T` works.

import { Refusal } from './answer.js';

export type DigestAlgorithm = 'sha-256' | 'sha-512';

const LENGTH: Record<DigestAlgorithm, number> = { 'sha-256': 32, 'sha-512': 64 };
const KNOWN = new Set<string>(Object.keys(LENGTH));

export const WANT_DIGEST = { 'want-content-digest': 'sha-256=10' };

export interface ExpectedDigests {
  /** Algorithm → the digest the client announced. Empty when nothing can be checked. */
  readonly expected: ReadonlyMap<DigestAlgorithm, Buffer>;
  /** Algorithms listed but not checked. */
  readonly ignored: readonly string[];
}

const bad = (detail: string) => new Refusal(400, 'bad_digest', detail, WANT_DIGEST);

const MEMBER = /^([a-z*][a-z0-9_.*-]*)(?:=(.*))?$/;
const BYTES = /^:([A-Za-z0-9+/]*={0,2}):(?:;.*)?$/;

/** Parse the header; throws a 400 Refusal when it is present but malformed. */
export function parseContentDigest(header: string | string[] | undefined): ExpectedDigests {
  const value = Array.isArray(header) ? header.join(',') : header;
  const expected = new Map<DigestAlgorithm, Buffer>();
  const ignored: string[] = [];
  if (value === undefined || value.trim() === '') return { expected, ignored };
  // Byte sequences are base64 and cannot hold a comma, so splitting on commas is exact for
  // every member we read; an unknown member with a quoted comma only shifts what we ignore.
  for (const raw of value.split(',')) {
    const member = raw.trim();
    const m = MEMBER.exec(member);
    if (!m) throw bad('Content-Digest is not an RFC 9530 dictionary such as sha-256=:<base64>:');
    const alg = m[1]!;
    if (!KNOWN.has(alg)) {
      ignored.push(alg);
      continue;
    }
    const bytes = BYTES.exec(m[2] ?? '');
    if (!bytes) throw bad(`Content-Digest ${alg} must be a byte sequence, :<base64>:`);
    const digest = Buffer.from(bytes[1]!, 'base64');
    const want = LENGTH[alg as DigestAlgorithm];
    if (digest.length !== want) throw bad(`Content-Digest ${alg} holds ${digest.length} bytes, not ${want}`);
    // RFC 8941: a repeated key keeps its last value.
    expected.set(alg as DigestAlgorithm, digest);
  }
  return { expected, ignored };
}
