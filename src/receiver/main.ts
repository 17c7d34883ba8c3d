// `shipper-receiver`: the entry point owns the process: argv, signals, process.exit.
// SIGTERM/SIGINT stop accepting, give uploads in flight a few seconds, then abort them
// (never leaving a partial file under a final name) and exit 0. A second signal exits at once.

import { ExitCodes, exitCodeFor, isShipperError } from '../errors.js';
import { createLogger, errorFields } from '../log/logger.js';
import { VERSION } from '../version.js';
import { USAGE, parseArgs } from './args.js';
import { readMaterial } from './material.js';
import { createReceiver } from './server.js';

const SHUTDOWN_GRACE_MS = 4_000;

async function main(argv: readonly string[]): Promise<number> {
  const log = createLogger();
  let parsed;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return exitCodeFor(err);
  }
  if (parsed.mode === 'help') {
    process.stdout.write(USAGE);
    return ExitCodes.OK;
  }
  if (parsed.mode === 'version') {
    process.stdout.write(`shipper-receiver ${VERSION}\n`);
    return ExitCodes.OK;
  }
  const a = parsed.args;
  let receiver;
  let material;
  try {
    material = await readMaterial(a);
    receiver = await createReceiver({
      host: a.host,
      port: a.port,
      store: a.store,
      tls: material,
      tokens: material.tokens,
      requireCodeVersion: a.requireCodeVersion,
      windowDays: a.windowDays,
      maxBytes: a.maxBytes,
      log,
    });
  } catch (err) {
    if (isShipperError(err)) {
      process.stderr.write(`${err.message}\n`);
      return exitCodeFor(err);
    }
    const e = err as { code?: string; syscall?: string };
    if (e.syscall === 'listen') {
      process.stderr.write(`shipper-receiver: cannot listen on ${a.host}:${a.port} (${e.code}); pick another --listen address\n`);
      return ExitCodes.UNAVAILABLE;
    }
    process.stderr.write(`shipper-receiver: cannot start: ${err instanceof Error ? err.message : String(err)} (--store ${a.store})\n`);
    return ExitCodes.CONFIG;
  }
  for (const w of material.warnings) log.warn(w.event, w.fields);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const force = () => process.exit(ExitCodes.INTERNAL);
  process.once('SIGTERM', force);
  process.once('SIGINT', force);
  log.notice('receiver_stopping', { signal });
  try {
    await receiver.close(SHUTDOWN_GRACE_MS);
  } catch (err) {
    log.error('receiver_stop_failed', errorFields(err));
    return ExitCodes.INTERNAL;
  }
  log.notice('receiver_stopped', {});
  return ExitCodes.OK;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`shipper-receiver: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(ExitCodes.INTERNAL);
  },
);
