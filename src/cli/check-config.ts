// `shipper check-config`: validate the file, the TLS material and the folders, and print
// the effective configuration with every default filled in. Secrets are never printed:
// only where they come from.

import { configPath, loadConfig } from '../config/load.js';
import { KEYS } from '../config/schema.js';
import type { Config } from '../config/schema.js';
import { ExitCodes } from '../errors.js';
import { formatValue } from '../log/logger.js';
import { prepareFolders } from '../queue/folders.js';
import type { Args } from './args.js';
import type { Io } from './io.js';

/** The effective value of each TOML key, from the frozen config. */
export function effectiveValues(c: Config): Map<string, string | number | boolean | null> {
  const r = c.receiver;
  const s = c.ship;
  return new Map<string, string | number | boolean | null>([
    ['host_id', c.hostId],
    ['paths.data_dir', c.paths.dataDir],
    ['paths.episodes', c.paths.episodes],
    ['paths.outbox', c.paths.outbox],
    ['paths.shipped', c.paths.shipped],
    ['paths.quarantine', c.paths.quarantine],
    ['paths.state', c.paths.state],
    ['receiver.url', r.url],
    ['receiver.ca', r.ca],
    ['receiver.cert', r.cert],
    ['receiver.key', r.key],
    ['receiver.token_file', r.tokenFile],
    ['receiver.server_name', r.serverName],
    ['receiver.connect_timeout_s', r.connectTimeoutMs / 1000],
    ['receiver.idle_timeout_s', r.idleTimeoutMs / 1000],
    ['ship.scan_interval_s', s.scanIntervalMs / 1000],
    ['ship.ready_marker', s.readyMarker],
    ['ship.settle_s', s.settleMs / 1000],
    ['ship.zstd_level', s.zstdLevel],
    ['ship.concurrency', s.concurrency],
    ['ship.require_code_version', s.requireCodeVersion],
    ['ship.max_episode_bytes', s.maxEpisodeBytes],
    ['ship.max_bytes_per_s', s.maxBytesPerS],
    ['retry.initial_s', c.retry.initialMs / 1000],
    ['retry.max_s', c.retry.maxMs / 1000],
    ['quarantine.keep_days', c.quarantine.keepDays],
    ['quarantine.cleanup_interval_s', c.quarantine.cleanupIntervalMs / 1000],
    ['shipped.keep_days', c.shipped.keepDays],
    ['metrics.textfile', c.metrics.textfile],
  ]);
}

function toml(v: string | number | boolean): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

export async function checkConfigMode(args: Args, io: Io): Promise<number> {
  const file = configPath(args.config, io.env);
  const { config, tls } = await loadConfig(file, { env: io.env });
  const { missing } = await prepareFolders(config, { create: false });
  const values = effectiveValues(config);
  const notes = new Map<string, string>();
  if (config.receiver.keyFromCredentials) notes.set('receiver.key', 'from $CREDENTIALS_DIRECTORY');
  if (config.receiver.tokenFromCredentials) notes.set('receiver.token_file', 'from $CREDENTIALS_DIRECTORY');
  if (tls.token) notes.set('receiver.token_file', `${notes.get('receiver.token_file') ?? 'read'}; token hidden`);
  if (config.receiver.serverName === null) notes.set('receiver.server_name', 'verify against the host of receiver.url');
  for (const m of missing) {
    for (const [k, v] of values) if (v === m) notes.set(k, 'does not exist yet; created at start');
  }

  io.out(`# effective configuration of ${file}`);
  io.out(`# client certificate: ${tls.certSubject}, valid until ${tls.certNotAfter.toISOString()}`);
  let section = '';
  for (const spec of KEYS) {
    const [head, leaf] = spec.key.includes('.') ? spec.key.split('.') : ['', spec.key];
    if (head !== section) {
      io.out('');
      io.out(`[${head}]`);
      section = head!;
    }
    const note = notes.get(spec.key);
    const v = values.get(spec.key) ?? null;
    const line = v === null ? `# ${leaf} = (not set)` : `${leaf} = ${toml(v)}`;
    io.out(`${line}${note ? `  # ${note}` : ''}`);
  }
  io.out('');
  io.out(`# config ok (${formatValue(file)})`);
  return ExitCodes.OK;
}
