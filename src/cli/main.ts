// The entry point owns the process: it parses argv, installs the signal handlers, runs one
// mode (a function that returns an exit code) and is the only place that calls
// process.exit. Expected failures print one line, never a stack trace. Each mode is
// loaded when it runs: a start (and the daemon's READY=1) pays only for what it uses.

import { ErrorCodes, ExitCodes, ShipperError, exitCodeFor } from '../errors.js';
import { createLogger, stderrIsJournal } from '../log/logger.js';
import { VERSION } from '../version.js';
import { HELP, parseCli, type Args } from './args.js';
import type { Io } from './io.js';

const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGTERM: 15 };

async function run(args: Args, io: Io, onHangup: (handler: () => void) => void): Promise<number> {
  switch (args.mode) {
    case 'help':
      io.out(HELP.trimEnd());
      return ExitCodes.OK;
    case 'version':
      io.out(`shipper ${VERSION}`);
      return ExitCodes.OK;
    case 'check-config':
      return (await import('./check-config.js')).checkConfigMode(args, io);
    case 'ping':
      return (await import('./ping.js')).pingMode(args, io);
    case 'once':
      return (await import('./once.js')).onceMode(args, io);
    case 'daemon':
      return (await import('./daemon.js')).daemonMode(args, io, onHangup);
    case 'status':
      return (await import('./status.js')).statusMode(args, io);
    case 'doctor':
      return (await import('./doctor.js')).doctorMode(args, io);
    case 'requeue':
      return (await import('./requeue.js')).requeueMode(args, io);
    case 'quarantine-unstamped':
      return (await import('./unstamped.js')).unstampedMode(args, io);
  }
}

async function main(): Promise<number> {
  const journald = stderrIsJournal();
  const log = createLogger({ journald });
  const ac = new AbortController();
  const io: Io = {
    out: (line) => void process.stdout.write(line + '\n'),
    // Under journald a fatal line carries priority err, so `journalctl -p err` shows why.
    err: (line) => void process.stderr.write((journald ? '<3>' : '') + line + '\n'),
    env: process.env,
    signal: ac.signal,
    log,
  };

  let args: Args;
  try {
    args = parseCli(process.argv.slice(2));
  } catch (err) {
    io.err(`shipper: ${err instanceof Error ? err.message : String(err)}`);
    return ExitCodes.USAGE;
  }

  // First SIGTERM/SIGINT: stop taking work and finish consistently. A second: leave now
  // (the folders are consistent at every instant; the next start's recovery tidies up).
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (ac.signal.aborted) {
        log.warn('second_signal', { signal: sig, action: 'exiting at once' });
        process.exit(128 + (SIGNAL_NUMBERS[sig] ?? 0));
      }
      log.notice('signal', { signal: sig, action: 'stopping' });
      ac.abort(new ShipperError(ErrorCodes.ABORTED, `stopped by ${sig}`));
    });
  }
  // SIGHUP is the daemon's reload. One that arrives before the daemon registered its handler
  // (while the config loads) is kept and handed over, not lost.
  let hangup: (() => void) | null = null;
  let pendingHangup = false;
  const onHangup = (handler: () => void) => {
    hangup = handler;
    if (pendingHangup) {
      pendingHangup = false;
      handler();
    }
  };
  process.on('SIGHUP', () => {
    if (hangup) hangup();
    else if (args.mode === 'daemon') pendingHangup = true;
    else log.notice('signal_ignored', { signal: 'SIGHUP', why: 'only the daemon reloads' });
  });

  try {
    return await run(args, io, onHangup);
  } catch (err) {
    if (err instanceof ShipperError && err.code !== ErrorCodes.INTERNAL) {
      if (err.code === ErrorCodes.ABORTED) return ExitCodes.TEMPFAIL;
      io.err(`shipper: ${err.message}`);
      return exitCodeFor(err);
    }
    io.err(`shipper: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return ExitCodes.INTERNAL;
  }
}

process.on('unhandledRejection', (err) => {
  process.stderr.write(`shipper: internal error (unhandled rejection): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(ExitCodes.INTERNAL);
});

main().then(
  (code) => {
    // Let stdout drain (a pipe may be slow), then leave with the mode's code.
    process.stdout.write('', () => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`shipper: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(ExitCodes.INTERNAL);
  },
);
