// The checks of `shipper doctor` that look at this host: the config, the TLS material,
// the receiver (one real ping), the data folders, free disk, and the queue. Each returns
// one Check and never throws for what it finds; the judging parts are pure and exported
// for table tests.

import { X509Certificate } from 'node:crypto';
import { stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readTlsMaterial, type TlsMaterial } from '../config/credentials.js';
import type { Config } from '../config/schema.js';
import { errnoOf, ShipperError } from '../errors.js';
import { silentLogger } from '../log/logger.js';
import { prepareFolders } from '../queue/folders.js';
import { ReceiverClient } from '../transport/client.js';
import { check, type Check } from './check.js';
import { bytes, oneLine } from './format.js';
import type { Snapshot } from './snapshot.js';
import type { Verdict } from './verdict.js';

const DAY_MS = 86_400_000;
/** WARN when the client certificate has fewer days left than this. */
export const CERT_WARN_DAYS = 14;

/** The fix half of a `config FILE: KEY: problem; fix` message, as a command where it is one. */
export function fixOf(message: string): string | null {
  const i = message.lastIndexOf('; ');
  if (i < 0) return null;
  return message.slice(i + 2).replace(/^run /, '');
}

/** The problem half of such a message, without the fix. */
function problemOf(message: string): string {
  const i = message.lastIndexOf('; ');
  return i < 0 ? message : message.slice(0, i);
}

/**
 * The problem of a failed check on a config that has loaded: its error says
 * `config FILE: key: problem; fix`, and the config line above already names FILE, which
 * (as a long path) would push the problem itself off the end of the line.
 */
function keyProblem(err: unknown, message: string): string {
  const file = err instanceof ShipperError ? err.details.file : undefined;
  const prefix = typeof file === 'string' ? `config ${file}: ` : null;
  return problemOf(prefix !== null && message.startsWith(prefix) ? message.slice(prefix.length) : message);
}

function sudoHint(message: string): string | null {
  return /EACCES|EPERM/.test(message) ? 'run as root or as the user the shipper runs as: sudo shipper doctor' : null;
}

export function configFailure(err: unknown, file: string): Check {
  const message = err instanceof Error ? err.message : String(err);
  const cfg = file === '/etc/shipper/lab-host.toml' ? '' : ` --config ${file}`;
  return check('config', 'fail', oneLine(problemOf(message), 160), sudoHint(message) ?? `${fixOf(message) ?? `edit ${file}`}; then: shipper check-config${cfg}`);
}

/** Days left on a certificate that is valid now, as the doctor line judges them. */
export function judgeCertificate(subject: string, notAfter: Date, caNotAfter: Date | null, keyMode: number | null, now: Date): Check {
  const days = Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
  const mode = keyMode === null ? '' : `; key mode ${(keyMode & 0o777).toString(8).padStart(4, '0')}`;
  const until = notAfter.toISOString().slice(0, 10);
  const renew = 'renew the client certificate at receiver.cert, then: sudo systemctl reload shipper (the daemon also picks up rotated files by itself)';
  if (days < 0) return check('certificates', 'fail', `client certificate ${subject} expired on ${until}`, renew);
  if (days < CERT_WARN_DAYS) return check('certificates', 'warn', `client certificate ${subject} expires in ${days} day${days === 1 ? '' : 's'} (${until})${mode}`, renew);
  if (caNotAfter) {
    const caDays = Math.floor((caNotAfter.getTime() - now.getTime()) / DAY_MS);
    if (caDays < CERT_WARN_DAYS) {
      return check('certificates', caDays < 0 ? 'fail' : 'warn', `the CA certificate (receiver.ca) ${caDays < 0 ? 'has expired' : `expires in ${caDays} days`} (${caNotAfter.toISOString().slice(0, 10)})`, 'install the renewed CA at receiver.ca, then: sudo systemctl reload shipper');
    }
  }
  return check('certificates', 'ok', `client certificate ${subject} valid for ${days} more days (until ${until})${mode}`);
}

export async function checkCertificates(config: Config, now: Date): Promise<{ check: Check; tls: TlsMaterial | null }> {
  let tls: TlsMaterial;
  try {
    tls = await readTlsMaterial(config, now);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const expired = /expired on/.test(message);
    const fix = sudoHint(message) ?? (expired ? 'renew the client certificate at receiver.cert, then: sudo systemctl reload shipper' : (fixOf(message) ?? 'see the message'));
    return { check: check('certificates', 'fail', oneLine(keyProblem(err, message), 160), fix), tls: null };
  }
  let caNotAfter: Date | null = null;
  try {
    caNotAfter = new Date(new X509Certificate(tls.ca).validTo);
  } catch {
    // readTlsMaterial parsed it already; a bundle whose first block is odd is not our business here
  }
  const keyMode = config.receiver.keyFromCredentials ? null : ((await stat(config.receiver.key).catch(() => null))?.mode ?? null);
  return { check: judgeCertificate(tls.certSubject, tls.certNotAfter, caNotAfter, keyMode, now), tls };
}

export async function checkReceiver(config: Config, tls: TlsMaterial, signal: AbortSignal): Promise<Check> {
  const client = new ReceiverClient({ config, tls, log: silentLogger });
  const cfg = config.file === '/etc/shipper/lab-host.toml' ? '' : ` --config ${config.file}`;
  try {
    const res = await client.ping(signal);
    if (res.status === 200) return check('receiver', 'ok', `${config.receiver.url} answered the ping with 200 in ${res.elapsedMs} ms`);
    const msg = oneLine(res.message, 150);
    switch (res.class) {
      case 'auth':
        return check('receiver', 'fail', msg, `check receiver.token_file and that the receiver trusts receiver.cert, then: shipper --ping${cfg}`);
      case 'transient':
        return check('receiver', 'warn', msg, `nothing here: the daemon retries; check the receiver's health, then: shipper --ping${cfg}`);
      case 'unreachable':
        return check('receiver', 'fail', msg, res.kind === 'tls_client_cert' ? `check that the receiver trusts receiver.cert, then: shipper --ping${cfg}` : `start the receiver or fix the path to it, then: shipper --ping${cfg}`);
      default:
        return check('receiver', 'fail', msg, `fix receiver.url, then: shipper --ping${cfg} && sudo systemctl reload shipper`);
    }
  } finally {
    await client.close();
  }
}

export async function checkFolders(config: Config): Promise<Check> {
  try {
    const { missing } = await prepareFolders(config, { create: false });
    if (missing.length > 0) return check('folders', 'warn', `not created yet: ${missing.join(', ')}`, 'sudo systemctl start shipper (the daemon creates them at start)');
    return check('folders', 'ok', `5 data folders under ${config.paths.dataDir}, writable, on one filesystem`);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return check('folders', 'fail', oneLine(keyProblem(err, message), 160), fixOf(message) ?? 'see the message');
  }
}

export interface DiskFacts {
  freeBytes: number;
  totalBytes: number;
  freeInodes: number;
  totalInodes: number;
}

/** FAIL under 2 % free (space or inodes); WARN under 10 % or under 1 GB of space. */
export function judgeDisk(d: DiskFacts, path: string): Check {
  const pct = d.totalBytes > 0 ? (d.freeBytes / d.totalBytes) * 100 : 100;
  const inodePct = d.totalInodes > 0 ? (d.freeInodes / d.totalInodes) * 100 : 100;
  const text = `${bytes(d.freeBytes)} free of ${bytes(d.totalBytes)} (${pct.toFixed(1)} %) at ${path}`;
  const fix = `free space: du -sh ${path}/* | sort -h; set shipped.keep_days and quarantine.keep_days to prune`;
  if (pct < 2) return check('disk', 'fail', text, fix);
  if (inodePct < 2) return check('disk', 'fail', `${text}; only ${inodePct.toFixed(1)} % of inodes free`, fix);
  if (pct < 10 || d.freeBytes < 1e9) return check('disk', 'warn', text, fix);
  if (inodePct < 10) return check('disk', 'warn', `${text}; only ${inodePct.toFixed(1)} % of inodes free`, fix);
  return check('disk', 'ok', text);
}

export async function checkDisk(config: Config): Promise<Check> {
  let path = config.paths.dataDir;
  for (let i = 0; i < 20; i++) {
    try {
      const s = await statfs(path);
      return judgeDisk({ freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize, freeInodes: s.ffree, totalInodes: s.files }, path);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT' || dirname(path) === path) return check('disk', 'warn', `cannot measure free space at ${path} (${errnoOf(err) ?? 'error'})`, `df -h ${path}`);
      path = dirname(path);
    }
  }
  return check('disk', 'skip', 'no folder to measure');
}

/** The status verdict as a doctor line, with the command that helps. */
export function queueCheck(s: Snapshot, v: Verdict, unit: string): Check {
  const cfg = s.config === '/etc/shipper/lab-host.toml' ? '' : ` --config ${s.config}`;
  const fixes: Record<string, string> = {
    receiver_refuses: `check receiver.token_file and receiver.cert, then: shipper --ping${cfg}`,
    misrouted: `fix receiver.url, then: shipper --ping${cfg}`,
    disk_full: 'free space in the data folder (see the disk line)',
    no_daemon_pending: `sudo systemctl enable --now ${unit}`,
    no_daemon: `sudo systemctl enable --now ${unit}`,
    receiver_failing: `shipper --ping${cfg} (the daemon retries with backoff by itself)`,
    episode_retries: `shipper status${cfg} (the daemon retries by itself)`,
    stale_pass: `systemctl status ${unit}; if it is stuck: sudo systemctl restart ${unit}`,
  };
  return check('queue', v.level, v.message, fixes[v.code] ?? `shipper status${cfg}`);
}
