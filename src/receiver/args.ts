// The command line of `shipper-receiver` (SPEC): parsed into a frozen value or a usage
// error. `--flag value` and `--flag=value` both work; every flag at most once.

import { ErrorCodes, ShipperError } from '../errors.js';

export const USAGE = `Usage: shipper-receiver --listen HOST:PORT --store DIR --ca FILE --cert FILE --key FILE
                        [--token-file FILE] [--require-code-version] [--window-days N] [--max-bytes N]
       shipper-receiver --help | --version

The reference receiver of the shipper's wire protocol (PUT /v1/episodes/{id}, POST /v1/ping)
over mutual TLS. Episodes are stored atomically as DIR/<host_id>/<id>.tar.zst.

  --listen HOST:PORT        address to listen on; port 0 picks a free one (logged at start)
  --store DIR               where episodes are stored (created if missing)
  --ca FILE                 PEM CA; clients must present a certificate it signed
  --cert FILE, --key FILE   PEM certificate and key of this receiver
  --token-file FILE         accepted bearer tokens, one a line ("#" starts a comment)
  --require-code-version    400 unless <id>/meta.json has a 40-hex code_version.commit
  --window-days N           412 unless meta.json's ended_at lies within N days of now
  --max-bytes N             413 for bodies larger than N bytes

Exit codes: 0 stopped by SIGTERM/SIGINT, 2 bad command line, 69 cannot listen,
78 a file named by a flag is missing or invalid.
`;

export interface ReceiverArgs {
  readonly host: string;
  readonly port: number;
  readonly store: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly tokenFile: string | null;
  readonly requireCodeVersion: boolean;
  readonly windowDays: number | null;
  readonly maxBytes: number | null;
}

export type Parsed = { readonly mode: 'help' } | { readonly mode: 'version' } | { readonly mode: 'run'; readonly args: ReceiverArgs };

const usage = (message: string) =>
  new ShipperError(ErrorCodes.USAGE, `shipper-receiver: ${message}; see shipper-receiver --help`);

const VALUE_FLAGS = ['--listen', '--store', '--ca', '--cert', '--key', '--token-file', '--window-days', '--max-bytes'] as const;
const BOOL_FLAGS = ['--require-code-version', '--help', '--version'] as const;

/** `HOST:PORT`, `[v6]:PORT`. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw usage(`--listen ${JSON.stringify(value)} is not HOST:PORT (e.g. 127.0.0.1:8443, [::1]:8443, 0.0.0.0:0)`);
  return { host: (m[1] ?? m[2])!, port };
}

function positiveInt(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < 1) {
    throw usage(`${flag} must be a whole number of at least 1, not ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** Parse argv (without node and the script). Throws SHIP_USAGE. */
export function parseArgs(argv: readonly string[]): Parsed {
  const values = new Map<string, string>();
  const bools = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if ((BOOL_FLAGS as readonly string[]).includes(name)) {
      if (eq > 0) throw usage(`${name} takes no value`);
      bools.add(name);
    } else if ((VALUE_FLAGS as readonly string[]).includes(name)) {
      if (values.has(name)) throw usage(`${name} is given twice`);
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || value === '') throw usage(`${name} needs a value`);
      values.set(name, value);
    } else if (arg.startsWith('-')) {
      throw usage(`unknown flag ${JSON.stringify(name)}`);
    } else {
      throw usage(`unexpected argument ${JSON.stringify(arg)}`);
    }
  }
  if (bools.has('--help')) return { mode: 'help' };
  if (bools.has('--version')) return { mode: 'version' };
  const missing = ['--listen', '--store', '--ca', '--cert', '--key'].filter((f) => !values.has(f));
  if (missing.length > 0) throw usage(`missing ${missing.join(', ')}`);
  const windowDays = values.get('--window-days');
  const maxBytes = values.get('--max-bytes');
  return {
    mode: 'run',
    args: Object.freeze({
      ...parseListen(values.get('--listen')!),
      store: values.get('--store')!,
      ca: values.get('--ca')!,
      cert: values.get('--cert')!,
      key: values.get('--key')!,
      tokenFile: values.get('--token-file') ?? null,
      requireCodeVersion: bools.has('--require-code-version'),
      windowDays: windowDays === undefined ? null : positiveInt('--window-days', windowDays),
      maxBytes: maxBytes === undefined ? null : positiveInt('--max-bytes', maxBytes),
    }),
  };
}
