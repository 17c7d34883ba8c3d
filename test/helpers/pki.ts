// A throwaway PKI for one test process, made with the real `openssl` CLI (argv arrays, no
// shell): a CA with a server and a client certificate, and every certificate the negative
// cases need (another CA, a wrong server name, an expired and a not-yet-valid client).
// EC P-256 keys keep it to a fraction of a second; the result is cached per process and its
// folder removed when the process exits. Keys are written with mode 0600, as the shipper
// refuses keys that group or others can read.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertFiles {
  /** Path of the PEM certificate. */
  readonly cert: string;
  /** Path of the PEM private key (mode 0600). */
  readonly key: string;
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
  /** Serial number as upper-case hex, as Node's X509Certificate and TLS peer certs print it. */
  readonly serial: string;
}

export interface CaFiles {
  readonly cert: string;
  readonly key: string;
  readonly certPem: Buffer;
}

export interface Pki {
  readonly dir: string;
  readonly ca: CaFiles;
  /** For `localhost`, SAN DNS:localhost, IP:127.0.0.1, signed by `ca`. */
  readonly server: CertFiles;
  /** CN = `lab-01`, signed by `ca`. */
  readonly client: CertFiles;
  readonly otherCa: CaFiles;
  /** CN = `lab-01`, signed by `otherCa`: the receiver must refuse it. */
  readonly otherClient: CertFiles;
  /** For `localhost`, signed by `otherCa`: the client must refuse it. */
  readonly otherServer: CertFiles;
  /** Signed by `ca`, but for `wrong.example` only: the client must refuse it. */
  readonly wrongNameServer: CertFiles;
  /** Signed by `ca`, valid only in January 2020. */
  readonly expiredClient: CertFiles;
  /** Signed by `ca`, valid only from 2099. */
  readonly notYetValidClient: CertFiles;
  /** A fresh client certificate and key signed by `ca` (for rotation tests). */
  issueClient(cn: string): Promise<CertFiles>;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
const CLIENT_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n';
const serverExt = (san: string) =>
  `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`;

let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;
const randomSerial = () => `0x${(randomBytes(8).readBigUInt64BE() | 1n << 62n).toString(16)}`;

async function serialOf(certPath: string, cwd: string): Promise<string> {
  const { stdout } = await run('openssl', ['x509', '-in', certPath, '-noout', '-serial'], { cwd });
  return stdout.trim().replace(/^serial=/, '').toUpperCase();
}

async function files(dir: string, name: string): Promise<CertFiles> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  await chmod(key, 0o600);
  const [certPem, keyPem, serial] = await Promise.all([readFile(cert), readFile(key), serialOf(cert, dir)]);
  return { cert, key, certPem, keyPem, serial };
}

async function makeCa(dir: string, cn: string): Promise<CaFiles> {
  const name = unique('ca');
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  await openssl(
    ['req', '-x509', ...EC, '-keyout', key, '-out', cert, '-subj', `/CN=${cn}`, '-days', '3',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  await chmod(key, 0o600);
  return { cert, key, certPem: await readFile(cert) };
}

async function makeCsr(dir: string, name: string, cn: string): Promise<string> {
  const csr = join(dir, `${name}.csr`);
  await openssl(['req', '-new', ...EC, '-keyout', join(dir, `${name}.key`), '-out', csr, '-subj', `/CN=${cn}`], dir);
  return csr;
}

/** A leaf valid from now for a few days, signed by `ca`. */
async function issue(dir: string, ca: CaFiles, cn: string, ext: string): Promise<CertFiles> {
  const name = unique('leaf');
  const csr = await makeCsr(dir, name, cn);
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, ext);
  await openssl(
    ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', randomSerial(), '-days', '3',
      '-extfile', extFile, '-out', join(dir, `${name}.pem`)],
    dir,
  );
  return files(dir, name);
}

/**
 * A client leaf with an explicit validity window. `openssl x509 -req` in OpenSSL 3.0 cannot
 * set a start date, so this goes through `openssl ca` with a minimal config of its own.
 */
async function issueDated(dir: string, ca: CaFiles, cn: string, start: string, end: string): Promise<CertFiles> {
  const name = unique('dated');
  const csr = await makeCsr(dir, name, cn);
  const db = join(dir, `${name}.index`);
  const serial = join(dir, `${name}.serial`);
  const conf = join(dir, `${name}.cnf`);
  await writeFile(db, '');
  await writeFile(serial, `${randomSerial().slice(2)}\n`);
  await writeFile(
    conf,
    [
      '[ca]', 'default_ca = d',
      '[d]', `database = ${db}`, `new_certs_dir = ${dir}`, `serial = ${serial}`, 'default_md = sha256',
      'policy = p', 'unique_subject = no', 'copy_extensions = none', 'x509_extensions = e',
      '[p]', 'commonName = supplied',
      '[e]', ...CLIENT_EXT.trim().split('\n'),
      '',
    ].join('\n'),
  );
  await openssl(
    ['ca', '-config', conf, '-batch', '-notext', '-in', csr, '-cert', ca.cert, '-keyfile', ca.key,
      '-startdate', start, '-enddate', end, '-out', join(dir, `${name}.pem`)],
    dir,
  );
  return files(dir, name);
}

async function build(): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'shipper-pki-'));
  const [ca, otherCa] = await Promise.all([makeCa(dir, 'shipper test CA'), makeCa(dir, 'some other CA')]);
  const localhost = serverExt('DNS:localhost,IP:127.0.0.1');
  const [server, client, otherClient, otherServer, wrongNameServer, expiredClient, notYetValidClient] = await Promise.all([
    issue(dir, ca, 'localhost', localhost),
    issue(dir, ca, 'lab-01', CLIENT_EXT),
    issue(dir, otherCa, 'lab-01', CLIENT_EXT),
    issue(dir, otherCa, 'localhost', localhost),
    issue(dir, ca, 'wrong.example', serverExt('DNS:wrong.example')),
    issueDated(dir, ca, 'lab-01', '20200101000000Z', '20200102000000Z'),
    issueDated(dir, ca, 'lab-01', '20990101000000Z', '20990102000000Z'),
  ]);
  return {
    dir,
    ca,
    server,
    client,
    otherCa,
    otherClient,
    otherServer,
    wrongNameServer,
    expiredClient,
    notYetValidClient,
    issueClient: (cn) => issue(dir, ca, cn, CLIENT_EXT),
  };
}

let cached: Promise<Pki> | undefined;

/** The PKI of this test process: made on first use, then shared. */
export function makePki(): Promise<Pki> {
  cached ??= build();
  return cached;
}
