// Parse, validate once at the edge, freeze. Every failure is SHIP_CONFIG_INVALID (exit 78)
// with a message that names the file, the key and the fix.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { TomlError, parse } from 'smol-toml';
import { errnoOf } from '../errors.js';
import { configError } from './config-error.js';
import { readTlsMaterial, type TlsMaterial } from './credentials.js';
import { KEYS, KEY_BY_NAME, SECTIONS, type Config, type KeySpec } from './schema.js';
import { suggestKey } from './suggest.js';

export const DEFAULT_CONFIG_PATH = '/etc/shipper/lab-host.toml';

/** `--config` wins, then `$SHIPPER_CONFIG`, then the packaged default. */
export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? (env.SHIPPER_CONFIG || DEFAULT_CONFIG_PATH));
}

type Raw = Record<string, unknown>;
type Value = string | number | boolean | null;

function typeName(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a table';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a float';
  return `a ${typeof v}`;
}

/** Flatten `{ ship: { settle_s: 1 } }` into `ship.settle_s`, rejecting unknown keys. */
function flatten(file: string, doc: Raw): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const known = KEYS.map((k) => k.key);
  const unknownKey = (key: string): never => {
    const hint = suggestKey(key, known);
    throw configError(file, key, 'unknown key', hint ? `did you mean ${hint}?` : `the known keys are listed in lab-host.toml.example`);
  };
  for (const [top, value] of Object.entries(doc)) {
    if (SECTIONS.includes(top)) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw configError(file, top, `must be a table ([${top}]), not ${typeName(value)}`);
      }
      for (const [leaf, v] of Object.entries(value as Raw)) {
        const key = `${top}.${leaf}`;
        if (!KEY_BY_NAME.has(key)) unknownKey(key);
        out.set(key, v);
      }
    } else if (KEY_BY_NAME.has(top)) {
      out.set(top, value);
    } else {
      unknownKey(top);
    }
  }
  return out;
}

function checkValue(file: string, spec: KeySpec, v: unknown): Value {
  const k = spec.kind;
  const wrongType = (want: string) => configError(file, spec.key, `must be ${want}, not ${typeName(v)}`);
  switch (k.type) {
    case 'bool':
      if (typeof v !== 'boolean') throw wrongType('true or false');
      return v;
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v)) throw wrongType('an integer');
      if (v < k.min || v > k.max) throw configError(file, spec.key, `${v} is out of range`, `use a value from ${k.min} to ${k.max}`);
      return v;
    case 'seconds': {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw wrongType('a number');
      const low = k.minExclusive ? v <= k.min : v < k.min;
      if (low || v > k.max) {
        const range = k.minExclusive ? `greater than ${k.min} and at most ${k.max}` : `from ${k.min} to ${k.max}`;
        throw configError(file, spec.key, `${v} is out of range`, `use a value ${range}`);
      }
      return v;
    }
    case 'string':
      if (typeof v !== 'string') throw wrongType('a string');
      if (k.pattern && !k.pattern.test(v)) {
        throw configError(file, spec.key, `${JSON.stringify(v)} does not match ${k.patternHint ?? k.pattern.source}`, 'use lower-case letters, digits, ".", "_" and "-", starting with a letter or digit');
      }
      if (v === '') throw configError(file, spec.key, 'must not be empty');
      return v;
    case 'filename':
      if (typeof v !== 'string') throw wrongType('a string');
      if (v === '' || v === '.' || v === '..' || v.includes('/') || v.includes('\0')) {
        throw configError(file, spec.key, `${JSON.stringify(v)} is not a plain file name`, 'give a name such as meta.json, without "/"');
      }
      return v;
    case 'path':
      if (typeof v !== 'string') throw wrongType('a string (a path)');
      if (v === '' || v.includes('\0')) throw configError(file, spec.key, 'must be a non-empty path');
      return v;
    case 'url':
      if (typeof v !== 'string') throw wrongType('a string');
      return checkUrl(file, spec.key, v);
  }
}

function checkUrl(file: string, key: string, v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw configError(file, key, 'is not a URL', 'write it as https://host:port, with an optional path prefix');
  }
  // Never echo the URL back: it might carry a password the operator pasted by mistake.
  if (u.protocol !== 'https:') throw configError(file, key, `must use https, not ${u.protocol.replace(':', '')}`, 'write it as https://host:port');
  if (u.username || u.password) throw configError(file, key, 'must not carry a user name or password', 'put the token in receiver.token_file instead');
  if (u.search || u.hash) throw configError(file, key, 'must not have a query or a fragment', 'write it as https://host:port/prefix');
  if (!u.hostname) throw configError(file, key, 'has no host', 'write it as https://host:port');
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  now?: Date;
}

export interface Loaded {
  readonly config: Config;
  readonly tls: TlsMaterial;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** Parse and validate the TOML text of `file` (no file-system checks beyond resolving paths). */
export function parseConfig(file: string, text: string, env: NodeJS.ProcessEnv = process.env): Config {
  let doc: Raw;
  try {
    doc = parse(text) as Raw;
  } catch (err) {
    if (err instanceof TomlError) {
      // Only the first line of the message: the code block would echo the file's text.
      const what = err.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      throw configError(file, null, `TOML syntax error at line ${err.line}, column ${err.column}: ${what}`, 'fix the syntax (see lab-host.toml.example)', err);
    }
    throw configError(file, null, 'cannot be parsed as TOML', undefined, err);
  }
  const flat = flatten(file, doc);
  const values = new Map<string, Value>();
  for (const spec of KEYS) {
    const v = flat.get(spec.key);
    if (v === undefined) {
      if (spec.default === undefined) throw configError(file, spec.key, 'is required', 'add it (see lab-host.toml.example)');
      values.set(spec.key, spec.default);
    } else {
      values.set(spec.key, checkValue(file, spec, v));
    }
  }
  const base = dirname(file);
  const str = (k: string) => values.get(k) as string;
  const num = (k: string) => values.get(k) as number;
  const path = (k: string): string | null => {
    const v = values.get(k) as string | null;
    return v === null ? null : isAbsolute(v) ? resolve(v) : resolve(base, v);
  };
  const dataDir = path('paths.data_dir')!;
  const sub = (k: string, name: string) => path(k) ?? join(dataDir, name);

  const creds = env.CREDENTIALS_DIRECTORY;
  const credKey = creds ? join(creds, 'client.key') : null;
  const credToken = creds ? join(creds, 'token') : null;
  const keyFromCredentials = credKey !== null && existsSync(credKey);
  const tokenFromCredentials = credToken !== null && existsSync(credToken);

  const retryInitialMs = num('retry.initial_s') * 1000;
  const retryMaxMs = num('retry.max_s') * 1000;
  if (retryMaxMs < retryInitialMs) {
    throw configError(file, 'retry.max_s', `${num('retry.max_s')} is smaller than retry.initial_s (${num('retry.initial_s')})`, 'make retry.max_s at least retry.initial_s');
  }

  const config: Config = {
    file,
    hostId: str('host_id'),
    paths: {
      dataDir,
      episodes: sub('paths.episodes', 'episodes'),
      outbox: sub('paths.outbox', 'outbox'),
      shipped: sub('paths.shipped', 'shipped'),
      quarantine: sub('paths.quarantine', 'quarantine'),
      state: sub('paths.state', 'state'),
    },
    receiver: {
      url: str('receiver.url'),
      ca: path('receiver.ca')!,
      cert: path('receiver.cert')!,
      key: keyFromCredentials ? credKey! : path('receiver.key')!,
      keyFromCredentials,
      tokenFile: tokenFromCredentials ? credToken! : path('receiver.token_file'),
      tokenFromCredentials,
      serverName: values.get('receiver.server_name') as string | null,
      connectTimeoutMs: num('receiver.connect_timeout_s') * 1000,
      idleTimeoutMs: num('receiver.idle_timeout_s') * 1000,
    },
    ship: {
      scanIntervalMs: num('ship.scan_interval_s') * 1000,
      readyMarker: str('ship.ready_marker'),
      settleMs: num('ship.settle_s') * 1000,
      zstdLevel: num('ship.zstd_level'),
      concurrency: num('ship.concurrency'),
      requireCodeVersion: values.get('ship.require_code_version') as boolean,
      maxEpisodeBytes: num('ship.max_episode_bytes'),
      maxBytesPerS: num('ship.max_bytes_per_s'),
    },
    retry: { initialMs: retryInitialMs, maxMs: retryMaxMs },
    quarantine: { keepDays: num('quarantine.keep_days'), cleanupIntervalMs: num('quarantine.cleanup_interval_s') * 1000 },
    shipped: { keepDays: num('shipped.keep_days') },
    metrics: { textfile: path('metrics.textfile') },
  };
  const folders = Object.entries(config.paths).filter(([k]) => k !== 'dataDir');
  for (let i = 0; i < folders.length; i++) {
    for (let j = i + 1; j < folders.length; j++) {
      if (folders[i]![1] === folders[j]![1]) {
        throw configError(file, `paths.${folders[j]![0]}`, `is the same folder as paths.${folders[i]![0]} (${folders[i]![1]})`, 'give each folder its own path');
      }
    }
  }
  return deepFreeze(config);
}

/**
 * Read and validate `file` (TOML, keys, values, paths) without opening the certificate,
 * key or token: what the local tools (`status`, `requeue`, `quarantine-unstamped`) need,
 * so that they work for an operator who cannot read the key and while the certificate is
 * expired.
 */
export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const errno = errnoOf(err);
    const fix =
      errno === 'ENOENT'
        ? 'create it from lab-host.toml.example, or pass --config PATH (or set $SHIPPER_CONFIG)'
        : errno === 'EACCES'
          ? 'run as root or as the user the shipper runs as (sudo -u shipper ...)'
          : 'check its permissions';
    throw configError(file, null, `cannot read the file (${errno ?? 'error'})`, fix, err);
  }
  return parseConfig(file, text, env);
}

/** Read `file`, validate it and the TLS material it names. */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<Loaded> {
  const config = await loadConfigFile(file, options.env ?? process.env);
  const tls = await readTlsMaterial(config, options.now ?? new Date());
  return { config, tls };
}
