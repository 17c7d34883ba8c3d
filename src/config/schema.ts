// The one table of configuration keys: TOML name, type, default and range. The loader,
// `check-config`, the example file's test and the README all follow this table, so a key
// is added here and nowhere else. Units are in the TOML names (`_s`, `_bytes`, `_days`)
// and in the frozen Config's names (`Ms`, `Bytes`, `Days`).

export type KeyKind =
  | { type: 'string'; pattern?: RegExp; patternHint?: string }
  | { type: 'path' }
  | { type: 'url' }
  | { type: 'bool' }
  | { type: 'int'; min: number; max: number }
  | { type: 'seconds'; min: number; max: number; minExclusive?: boolean }
  | { type: 'filename' };

export interface KeySpec {
  /** Dotted TOML name, e.g. `ship.settle_s`. */
  key: string;
  kind: KeyKind;
  /** `undefined` = required; `null` = optional with no value. */
  default?: string | number | boolean | null;
  /** Printed by check-config as hidden. */
  secret?: boolean;
  doc: string;
}

export const HOST_ID_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export const KEYS: readonly KeySpec[] = [
  { key: 'host_id', kind: { type: 'string', pattern: HOST_ID_RE, patternHint: '[a-z0-9][a-z0-9._-]{0,62}' }, doc: 'this host, sent as X-Shipper-Host' },
  { key: 'paths.data_dir', kind: { type: 'path' }, default: '/var/lib/shipper', doc: 'parent of the data folders' },
  { key: 'paths.episodes', kind: { type: 'path' }, default: null, doc: 'where recorders drop finished episodes (default <data_dir>/episodes)' },
  { key: 'paths.outbox', kind: { type: 'path' }, default: null, doc: 'packed archives waiting for upload (default <data_dir>/outbox)' },
  { key: 'paths.shipped', kind: { type: 'path' }, default: null, doc: 'episodes the receiver accepted (default <data_dir>/shipped)' },
  { key: 'paths.quarantine', kind: { type: 'path' }, default: null, doc: 'episodes rejected for good (default <data_dir>/quarantine)' },
  { key: 'paths.state', kind: { type: 'path' }, default: null, doc: "the shipper's own small files (default <data_dir>/state)" },
  { key: 'receiver.url', kind: { type: 'url' }, doc: 'https://host:port with an optional path prefix' },
  { key: 'receiver.ca', kind: { type: 'path' }, doc: 'PEM file of the CA that signed the receiver certificate' },
  { key: 'receiver.cert', kind: { type: 'path' }, doc: 'PEM client certificate of this host' },
  { key: 'receiver.key', kind: { type: 'path' }, secret: true, doc: 'PEM private key of the client certificate (mode 600)' },
  { key: 'receiver.token_file', kind: { type: 'path' }, default: null, secret: true, doc: 'file holding a bearer token, sent as Authorization: Bearer' },
  { key: 'receiver.server_name', kind: { type: 'string' }, default: null, doc: 'TLS server name to verify (default: the host of the url)' },
  { key: 'receiver.connect_timeout_s', kind: { type: 'seconds', min: 0, max: 3600, minExclusive: true }, default: 10, doc: 'TCP + TLS connect timeout' },
  { key: 'receiver.idle_timeout_s', kind: { type: 'seconds', min: 0, max: 86400, minExclusive: true }, default: 60, doc: 'no byte moved for this long = transient failure' },
  { key: 'ship.scan_interval_s', kind: { type: 'seconds', min: 0, max: 86400, minExclusive: true }, default: 5, doc: 'sleep between passes when idle' },
  { key: 'ship.ready_marker', kind: { type: 'filename' }, default: 'meta.json', doc: 'an episode is ready once this file exists in it' },
  { key: 'ship.settle_s', kind: { type: 'seconds', min: 0, max: 86400 }, default: 10, doc: 'and the marker is at least this old' },
  { key: 'ship.zstd_level', kind: { type: 'int', min: 1, max: 19 }, default: 3, doc: 'zstd compression level' },
  { key: 'ship.concurrency', kind: { type: 'int', min: 1, max: 64 }, default: 2, doc: 'episodes in flight at once' },
  { key: 'ship.require_code_version', kind: { type: 'bool' }, default: false, doc: 'quarantine locally episodes whose meta.json lacks a 40-hex code_version.commit' },
  { key: 'ship.max_episode_bytes', kind: { type: 'int', min: 0, max: Number.MAX_SAFE_INTEGER }, default: 0, doc: '0 = no limit; larger episodes are quarantined (too_large)' },
  { key: 'ship.max_bytes_per_s', kind: { type: 'int', min: 0, max: Number.MAX_SAFE_INTEGER }, default: 0, doc: '0 = no limit; caps upload bandwidth across all uploads' },
  { key: 'retry.initial_s', kind: { type: 'seconds', min: 0, max: 86400, minExclusive: true }, default: 5, doc: 'first backoff after a transient failure' },
  { key: 'retry.max_s', kind: { type: 'seconds', min: 0, max: 604800, minExclusive: true }, default: 600, doc: 'longest backoff; Retry-After is honoured up to this' },
  { key: 'quarantine.keep_days', kind: { type: 'seconds', min: 0, max: 36500 }, default: 30, doc: '0 = keep for ever' },
  { key: 'quarantine.cleanup_interval_s', kind: { type: 'seconds', min: 0, max: 31536000 }, default: 3600, doc: 'the cleanup runs at most this often, across restarts too' },
  { key: 'shipped.keep_days', kind: { type: 'seconds', min: 0, max: 36500 }, default: 0, doc: '0 = keep for ever; otherwise shipped episodes older than this are deleted' },
  { key: 'metrics.textfile', kind: { type: 'path' }, default: null, doc: 'Prometheus text file, rewritten atomically after each pass' },
];

export const KEY_BY_NAME: ReadonlyMap<string, KeySpec> = new Map(KEYS.map((k) => [k.key, k]));
export const SECTIONS: readonly string[] = [...new Set(KEYS.filter((k) => k.key.includes('.')).map((k) => k.key.split('.')[0]!))];

export interface Paths {
  readonly dataDir: string;
  readonly episodes: string;
  readonly outbox: string;
  readonly shipped: string;
  readonly quarantine: string;
  readonly state: string;
}

export interface Config {
  /** Absolute path of the file this was read from. */
  readonly file: string;
  readonly hostId: string;
  readonly paths: Paths;
  readonly receiver: {
    /** Normalised: no trailing slash. */
    readonly url: string;
    readonly ca: string;
    readonly cert: string;
    /** Where the key is read from; `$CREDENTIALS_DIRECTORY/client.key` when present. */
    readonly key: string;
    readonly keyFromCredentials: boolean;
    readonly tokenFile: string | null;
    readonly tokenFromCredentials: boolean;
    /** `null`: verify against the url's host. */
    readonly serverName: string | null;
    readonly connectTimeoutMs: number;
    readonly idleTimeoutMs: number;
  };
  readonly ship: {
    readonly scanIntervalMs: number;
    readonly readyMarker: string;
    readonly settleMs: number;
    readonly zstdLevel: number;
    readonly concurrency: number;
    readonly requireCodeVersion: boolean;
    readonly maxEpisodeBytes: number;
    readonly maxBytesPerS: number;
  };
  readonly retry: { readonly initialMs: number; readonly maxMs: number };
  readonly quarantine: { readonly keepDays: number; readonly cleanupIntervalMs: number };
  readonly shipped: { readonly keepDays: number };
  readonly metrics: { readonly textfile: string | null };
}
