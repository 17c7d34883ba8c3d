// `shipper` with no mode: the daemon the unit runs.

import { configPath, loadConfig } from '../config/load.js';
import { runDaemon } from '../daemon/daemon.js';
import { metricsHook } from '../metrics/textfile.js';
import { createNotifier } from '../systemd/notifier.js';
import type { Args } from './args.js';
import type { Io } from './io.js';

export async function daemonMode(args: Args, io: Io, onHangup: (handler: () => void) => void): Promise<number> {
  const file = configPath(args.config, io.env);
  const loaded = await loadConfig(file, { env: io.env });
  const notifier = createNotifier({ env: io.env, log: io.log, ...(args.notifyFd !== undefined ? { notifyFd: args.notifyFd } : {}) });
  return runDaemon({ file, loaded, log: io.log, notifier, env: io.env, signal: io.signal, onHangup, afterPass: metricsHook() });
}
