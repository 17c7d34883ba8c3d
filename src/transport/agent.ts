import { Agent } from 'undici';
import type { Config } from '../config/schema.js';
import type { TlsMaterial } from '../config/credentials.js';

/**
 * The one undici Agent for the receiver: mutual TLS against the configured CA (never the
 * system store, never unverified), the configured timeouts, no redirects. Passed to every
 * request as `dispatcher`; the global dispatcher is never touched.
 */
export function createAgent(config: Config, tls: TlsMaterial): Agent {
  const r = config.receiver;
  return new Agent({
    connect: {
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      timeout: r.connectTimeoutMs,
      ...(r.serverName !== null ? { servername: r.serverName } : {}),
    },
    headersTimeout: r.idleTimeoutMs,
    bodyTimeout: r.idleTimeoutMs,
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 60_000,
    connections: config.ship.concurrency + 1,
    pipelining: 1,
  });
}
