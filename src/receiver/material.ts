// The files the receiver's flags name, read and checked once at start. Every failure is
// SHIP_CONFIG_INVALID (exit 78) naming the flag, the file and the fix; never the contents.

import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { ErrorCodes, ShipperError, errnoOf } from '../errors.js';
import type { Fields } from '../log/logger.js';
import type { ReceiverArgs } from './args.js';

export interface ReceiverMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** null: no --token-file. */
  readonly tokens: readonly string[] | null;
  /** To log once the receiver listens (its first line is receiver_listening). */
  readonly warnings: readonly { event: string; fields: Fields }[];
}

const invalid = (flag: string, file: string, problem: string, fix: string, cause?: unknown) =>
  new ShipperError(ErrorCodes.CONFIG_INVALID, `shipper-receiver: ${flag} ${file}: ${problem}; ${fix}`, { cause, details: { flag, file } });

async function readFlagFile(flag: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const errno = errnoOf(err) ?? 'error';
    const fix =
      errno === 'ENOENT' ? 'check the path' : errno === 'EACCES' ? 'make it readable by the user the receiver runs as' : 'point the flag at a regular file';
    throw invalid(flag, file, `cannot read the file (${errno})`, fix, err);
  }
}

function parseCert(flag: string, file: string, pem: Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw invalid(flag, file, 'is not a PEM certificate', 'point it at a file with -----BEGIN CERTIFICATE-----', err);
  }
}

/** Tokens of a token file: one a line, blank lines and `#` comments skipped. */
export function parseTokens(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

export async function readMaterial(a: ReceiverArgs): Promise<ReceiverMaterial> {
  const [ca, cert, key] = await Promise.all([readFlagFile('--ca', a.ca), readFlagFile('--cert', a.cert), readFlagFile('--key', a.key)]);
  parseCert('--ca', a.ca, ca);
  const x509 = parseCert('--cert', a.cert, cert);
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(key);
  } catch (err) {
    throw invalid('--key', a.key, 'is not an unencrypted PEM private key', 'point it at the key of --cert, stored without a passphrase', err);
  }
  if (!x509.checkPrivateKey(keyObject)) {
    throw invalid('--key', a.key, `does not belong to the certificate ${a.cert}`, 'use the key the certificate was issued for');
  }
  const st = await stat(a.key);
  const warnings: { event: string; fields: Fields }[] = [];
  if ((st.mode & 0o077) !== 0) warnings.push({ event: 'key_readable_by_others', fields: { file: a.key, fix: `run chmod 600 ${a.key}` } });

  let tokens: string[] | null = null;
  if (a.tokenFile !== null) {
    tokens = parseTokens((await readFlagFile('--token-file', a.tokenFile)).toString('utf8'));
    if (tokens.length === 0) throw invalid('--token-file', a.tokenFile, 'holds no token', 'write one accepted token a line');
    if (tokens.some((t) => !/^[\x21-\x7e]+$/.test(t))) {
      throw invalid('--token-file', a.tokenFile, 'holds a line a bearer token cannot be', 'one token a line, printable ASCII without spaces');
    }
  }
  return { ca, cert, key, tokens, warnings };
}
