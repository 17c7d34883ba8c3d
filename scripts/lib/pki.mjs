// A throwaway PKI made with the openssl CLI (argv arrays, never a shell string): a CA, a
// server certificate for localhost/127.0.0.1 and a client certificate for a host id, all
// EC P-256. For the demo, the benchmark and the tests; never for production.

import { execFile } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Run openssl in `cwd`; on failure, the error carries openssl's own words. */
export async function openssl(args, cwd) {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    throw new Error(`openssl ${args[0]} failed: ${(err.stderr || err.message || '').toString().trim()}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A self-signed CA in `dir` as `<name>.pem` / `<name>.key`. */
export async function makeCa(dir, name = 'ca', cn = 'shipper test CA') {
  await openssl(['req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '30', '-subj', `/CN=${cn}`], dir);
  await chmod(join(dir, `${name}.key`), 0o600);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

/**
 * A certificate signed by `ca`, written as `<name>.pem` / `<name>.key` (mode 0600).
 * `san` e.g. 'DNS:localhost,IP:127.0.0.1'; `usage` 'serverAuth' or 'clientAuth'.
 */
export async function issue(dir, ca, name, cn, { san = null, usage = 'clientAuth', days = 30 } = {}) {
  await openssl(['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  const ext = join(dir, `${name}.ext`);
  await writeFile(ext, `extendedKeyUsage=${usage}\n${san ? `subjectAltName=${san}\n` : ''}`);
  await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', `${name}.pem`, '-days', String(days), '-extfile', ext], dir);
  await chmod(join(dir, `${name}.key`), 0o600);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

/** CA + server (localhost) + client (`hostId`) in `dir`. */
export async function makeBasicPki(dir, hostId = 'lab-01') {
  const ca = await makeCa(dir);
  const server = await issue(dir, ca, 'server', 'localhost', { san: 'DNS:localhost,IP:127.0.0.1', usage: 'serverAuth' });
  const client = await issue(dir, ca, 'client', hostId, { usage: 'clientAuth' });
  return { dir, ca, server, client, read: (p) => readFile(p) };
}
