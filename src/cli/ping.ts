// `shipper --ping`: one real round trip with the same TLS and headers as an upload. Exit 0
// only on a 200; 401/403 → 77; any other answer, or none → 69, saying which it was.

import { configPath, loadConfig } from '../config/load.js';
import { ExitCodes } from '../errors.js';
import { ReceiverClient } from '../transport/client.js';
import type { Args } from './args.js';
import type { Io } from './io.js';

function receiverName(body: string, server: string | null): string | null {
  try {
    const j = JSON.parse(body) as { receiver?: unknown };
    if (typeof j.receiver === 'string') return j.receiver;
  } catch {
    // not our receiver's JSON; fall back to the Server header
  }
  return server;
}

export async function pingMode(args: Args, io: Io): Promise<number> {
  const { config, tls } = await loadConfig(configPath(args.config, io.env), { env: io.env });
  const client = new ReceiverClient({ config, tls, log: io.log });
  try {
    const res = await client.ping(io.signal);
    if (res.status === 200) {
      const who = receiverName(res.body, res.server);
      io.out(`ping ok: ${config.receiver.url} answered 200 in ${res.elapsedMs} ms${who ? ` (${who})` : ''} as host ${config.hostId}`);
      return ExitCodes.OK;
    }
    if (res.class === 'auth') {
      io.err(`ping failed: ${res.message}`);
      return ExitCodes.NOPERM;
    }
    io.err(res.status === null ? `ping failed: no answer: ${res.message}` : `ping failed: ${res.message}`);
    return ExitCodes.UNAVAILABLE;
  } finally {
    await client.close();
  }
}
