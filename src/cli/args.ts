// The command line of SPEC, parsed once into a plain object. A bad command line is
// SHIP_USAGE (exit 2) with a message that says what was wrong and points at --help.

import { parseArgs } from 'node:util';
import { ErrorCodes, ShipperError } from '../errors.js';

export type Mode = 'daemon' | 'once' | 'ping' | 'status' | 'doctor' | 'requeue' | 'quarantine-unstamped' | 'check-config' | 'version' | 'help';

export interface Args {
  mode: Mode;
  config: string | undefined;
  json: boolean;
  since: string;
  unit: string;
  ids: string[];
  all: boolean;
  reason: string | undefined;
  status: number | undefined;
  dryRun: boolean;
  notifyFd: number | undefined;
}

const SUBCOMMANDS = new Set(['status', 'doctor', 'requeue', 'quarantine-unstamped', 'check-config']);

/** Which options each mode accepts (besides --config). */
const ALLOWED: Record<Mode, readonly string[]> = {
  daemon: ['notify-fd'],
  once: [],
  ping: [],
  status: ['json'],
  doctor: ['since', 'unit', 'json'],
  requeue: ['all', 'reason', 'status'],
  'quarantine-unstamped': ['dry-run'],
  'check-config': [],
  version: [],
  help: [],
};

function usage(message: string): ShipperError {
  return new ShipperError(ErrorCodes.USAGE, `${message}; see shipper --help`);
}

export function parseCli(argv: readonly string[]): Args {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        once: { type: 'boolean' },
        ping: { type: 'boolean' },
        version: { type: 'boolean', short: 'V' },
        help: { type: 'boolean', short: 'h' },
        json: { type: 'boolean' },
        since: { type: 'string' },
        unit: { type: 'string' },
        all: { type: 'boolean' },
        reason: { type: 'string' },
        status: { type: 'string' },
        'dry-run': { type: 'boolean' },
        'notify-fd': { type: 'string' },
      },
    });
  } catch (err) {
    throw usage(err instanceof Error ? err.message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '') : String(err));
  }
  const v = parsed.values;
  const pos = parsed.positionals;

  const modes: Mode[] = [];
  if (v.help) modes.push('help');
  if (v.version) modes.push('version');
  if (v.once) modes.push('once');
  if (v.ping) modes.push('ping');
  let rest = pos;
  if (pos.length > 0) {
    if (!SUBCOMMANDS.has(pos[0]!)) throw usage(`unknown command ${JSON.stringify(pos[0])}`);
    modes.push(pos[0] as Mode);
    rest = pos.slice(1);
  }
  if (modes.length > 1 && !modes.includes('help')) throw usage(`choose one of ${modes.map((m) => (SUBCOMMANDS.has(m) ? m : `--${m}`)).join(', ')}`);
  const mode: Mode = modes.includes('help') ? 'help' : (modes[0] ?? 'daemon');

  const given = Object.keys(v).filter((k) => !['config', 'once', 'ping', 'version', 'help'].includes(k));
  if (mode !== 'help') {
    for (const k of given) {
      if (!ALLOWED[mode].includes(k)) throw usage(`--${k} does not apply to ${mode === 'daemon' ? 'the daemon' : mode}`);
    }
  }
  if (rest.length > 0 && mode !== 'requeue') throw usage(`unexpected argument ${JSON.stringify(rest[0])}`);
  if (mode === 'requeue') {
    if (v.all && rest.length > 0) throw usage('requeue takes either IDs or --all, not both');
    if (!v.all && rest.length === 0) throw usage('requeue needs the IDs to move back, or --all');
    if ((v.reason !== undefined || v.status !== undefined) && !v.all && rest.length === 0) throw usage('--reason and --status filter --all');
  }
  let status: number | undefined;
  if (v.status !== undefined) {
    if (!/^\d{3}$/.test(v.status)) throw usage(`--status ${JSON.stringify(v.status)} is not an HTTP status code`);
    status = Number(v.status);
  }
  let notifyFd: number | undefined;
  if (v['notify-fd'] !== undefined) {
    if (!/^\d+$/.test(v['notify-fd']) || Number(v['notify-fd']) < 3) throw usage('--notify-fd needs a file descriptor number of 3 or more');
    notifyFd = Number(v['notify-fd']);
  }
  return {
    mode,
    config: v.config,
    json: v.json ?? false,
    since: v.since ?? '10min',
    unit: v.unit ?? 'shipper.service',
    ids: rest,
    all: v.all ?? false,
    reason: v.reason,
    status,
    dryRun: v['dry-run'] ?? false,
    notifyFd,
  };
}

export const HELP = `shipper — ships finished telemetry episodes to the central receiver over mutual TLS

usage:
  shipper [--config PATH] [--notify-fd N]   daemon: scan, ship, sleep, repeat (what the unit runs)
  shipper --once [--config PATH]             one pass over everything ready, then exit
  shipper --ping [--config PATH]             smoke test: POST /v1/ping with the same TLS and auth
  shipper status [--json]                    queue counts, oldest pending, last success, last error
  shipper doctor [--since 10min] [--unit shipper.service] [--json]
                                             health: config, certificates, receiver, disk, journal
  shipper requeue ID... | --all [--reason R] [--status CODE]
                                             quarantine -> episodes again
  shipper quarantine-unstamped [--dry-run]   quarantine episodes without a code version
  shipper check-config                       validate and print the effective config, secrets hidden
  shipper --version | --help

The config is --config PATH, else $SHIPPER_CONFIG, else /etc/shipper/lab-host.toml.

exit codes:
  0   done (--once: nothing left waiting on a retry)
  1   unexpected internal error
  2   bad command line
  69  receiver unreachable (connection, DNS, TLS handshake, timeout)
  75  --once left episodes for a retry, or another shipper holds the lock
  77  the receiver refused our credentials (401/403)
  78  configuration invalid
`;
