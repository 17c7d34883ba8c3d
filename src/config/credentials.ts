// The TLS material and the bearer token: read, checked and summarised without ever putting
// their contents in a message. Read at config load (so a bad file is exit 78 at start), at
// SIGHUP, and whenever `materialStamp()` shows that a file was rotated on disk.

import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { errnoOf } from '../errors.js';
import { configError } from './config-error.js';
import type { Config } from './schema.js';

export interface TlsMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The bearer token, or null when none is configured. Never log it. */
  readonly token: string | null;
  /** dev:ino:size:mtime of every file read; a change means the files were rotated. */
  readonly stamp: string;
  readonly certSubject: string;
  readonly certNotAfter: Date;
}

const MAX_PEM_BYTES = 1024 * 1024;

async function readSecretish(config: Config, key: string, path: string, checkMode: boolean): Promise<Buffer> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === 'ENOENT') throw configError(config.file, key, `file ${path} does not exist`, 'check the path or create the file', err);
    throw configError(config.file, key, `cannot stat ${path} (${errno})`, 'check the path and its permissions', err);
  }
  if (!st.isFile()) throw configError(config.file, key, `${path} is not a regular file`, 'point it at a PEM file');
  if (st.size > MAX_PEM_BYTES) throw configError(config.file, key, `${path} is ${st.size} bytes, too large for a PEM file`, 'point it at the right file');
  if (checkMode && (st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    throw configError(config.file, key, `${path} is accessible by group or others (mode ${mode})`, `run chmod 600 ${path}`);
  }
  try {
    return await readFile(path);
  } catch (err) {
    const errno = errnoOf(err);
    const fix = errno === 'EACCES' ? 'make it readable by the user the shipper runs as (see etc/shipper.service)' : 'check the file';
    throw configError(config.file, key, `cannot read ${path} (${errno ?? 'error'})`, fix, err);
  }
}

function parseCert(config: Config, key: string, path: string, pem: Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw configError(config.file, key, `${path} is not a PEM certificate`, 'point it at the PEM certificate (-----BEGIN CERTIFICATE-----)', err);
  }
}

async function statStamp(path: string | null): Promise<string> {
  if (path === null) return '-';
  try {
    const st = await stat(path, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
  } catch (err) {
    return `missing:${errnoOf(err) ?? ''}`;
  }
}

/** A cheap fingerprint of the files behind the TLS material (four stat calls). */
export async function materialStamp(config: Config): Promise<string> {
  const r = config.receiver;
  const parts = await Promise.all([statStamp(r.ca), statStamp(r.cert), statStamp(r.key), statStamp(r.tokenFile)]);
  return parts.join('|');
}

/**
 * Read and check the CA, client certificate, key and token named by `config`. Throws
 * SHIP_CONFIG_INVALID naming the file, the key and the fix; never the contents.
 */
export async function readTlsMaterial(config: Config, now: Date = new Date()): Promise<TlsMaterial> {
  const r = config.receiver;
  const stamp = await materialStamp(config);
  const ca = await readSecretish(config, 'receiver.ca', r.ca, false);
  const cert = await readSecretish(config, 'receiver.cert', r.cert, false);
  // systemd credentials are private to the unit by construction; a key from the config
  // file must not be readable by anyone else.
  const key = await readSecretish(config, 'receiver.key', r.key, !r.keyFromCredentials);

  parseCert(config, 'receiver.ca', r.ca, ca);
  const x509 = parseCert(config, 'receiver.cert', r.cert, cert);
  const notBefore = new Date(x509.validFrom);
  const notAfter = new Date(x509.validTo);
  if (now < notBefore) {
    throw configError(config.file, 'receiver.cert', `${r.cert} is not valid before ${notBefore.toISOString()}`, "check this host's clock, or use a certificate that is valid now");
  }
  if (now > notAfter) {
    throw configError(config.file, 'receiver.cert', `${r.cert} expired on ${notAfter.toISOString()}`, 'renew the client certificate');
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(key);
  } catch (err) {
    const encrypted = /encrypted|passphrase/i.test(err instanceof Error ? err.message : '');
    throw configError(
      config.file,
      'receiver.key',
      encrypted ? `${r.key} is an encrypted private key` : `${r.key} is not a PEM private key`,
      encrypted ? 'store it unencrypted with mode 600, or deliver it as a systemd credential' : 'point it at the PEM private key of receiver.cert',
    );
  }
  if (!x509.checkPrivateKey(keyObject)) {
    throw configError(config.file, 'receiver.key', `${r.key} does not belong to the certificate ${r.cert}`, 'use the key the certificate was issued for');
  }

  let token: string | null = null;
  if (r.tokenFile !== null) {
    const raw = await readSecretish(config, 'receiver.token_file', r.tokenFile, !r.tokenFromCredentials);
    token = raw.toString('utf8').trim();
    if (token === '') throw configError(config.file, 'receiver.token_file', `${r.tokenFile} is empty`, 'write the bearer token into it');
    if (!/^[\x21-\x7e]+$/.test(token)) {
      throw configError(config.file, 'receiver.token_file', `${r.tokenFile} holds characters a bearer token cannot have`, 'it must hold one line of printable ASCII');
    }
  }
  return { ca, cert, key, token, stamp, certSubject: x509.subject.replace(/\n/g, ', '), certNotAfter: notAfter };
}
