// The reference receiver as a library: `createReceiver(options)` listens and resolves once
// the port is bound, so tests, the demo and the benchmark run it in-process, and main.ts
// runs it as `shipper-receiver`.
//
// Against hostile or broken clients: the TLS layer requires a client certificate from the
// CA; headers must arrive within `headersTimeoutMs`; a socket on which no byte moves for
// `idleTimeoutMs` is closed. There is no limit on a request's total duration, so a 4 GB
// upload is never cut off while it makes progress.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import { errorFields, silentLogger, type Fields, type Logger } from '../log/logger.js';
import { Refusal, SERVER_NAME, sendJson } from './answer.js';
import { bearerCheck } from './auth.js';
import { putEpisode, refuseEarly, type EpisodeContext } from './episode.js';
import { hostIdOf, route } from './routes.js';
import { EpisodeStore } from './store.js';
import { VERSION } from '../version.js';

export interface ReceiverOptions {
  /** Port 0 picks a free port. */
  readonly host?: string;
  readonly port?: number;
  readonly store: string;
  readonly tls: { readonly ca: Buffer | string; readonly cert: Buffer | string; readonly key: Buffer | string };
  /** Accepted bearer tokens; null or absent: no token required. */
  readonly tokens?: readonly string[] | null;
  readonly requireCodeVersion?: boolean;
  readonly windowDays?: number | null;
  readonly maxBytes?: number | null;
  readonly log?: Logger;
  readonly now?: () => Date;
  /** No byte moved on a connection for this long: it is closed. Default 60 s. */
  readonly idleTimeoutMs?: number;
  /** The request line and headers must be complete within this. Default 20 s. */
  readonly headersTimeoutMs?: number;
  /** The zstd binary. Default `zstd` from PATH. */
  readonly zstd?: string;
}

export interface Receiver {
  /** `https://HOST:PORT` as bound (an IPv6 host in brackets). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly server: Server;
  /**
   * Stop accepting, let uploads in flight finish for up to `graceMs`, then abort the rest
   * (their temp files are removed) and resolve once every connection is closed, or at the
   * latest two seconds after the grace period.
   */
  close(graceMs?: number): Promise<void>;
}

/** Log fields naming the client certificate of a request. */
function whoOf(req: IncomingMessage): Fields {
  const peer = (req.socket as TLSSocket).getPeerCertificate?.();
  if (!peer || !peer.subject) return {};
  const cn = peer.subject.CN;
  return { client_cn: Array.isArray(cn) ? cn.join(',') : cn, client_serial: peer.serialNumber };
}

/** After aborting what is left at close(), how long its handlers get to clean up. */
const CLEANUP_WAIT_MS = 2_000;

export async function createReceiver(o: ReceiverOptions): Promise<Receiver> {
  const log = o.log ?? silentLogger;
  const now = o.now ?? (() => new Date());
  for (const t of o.tokens ?? []) log.redact(t);
  const auth = bearerCheck(o.tokens ?? null);
  const store = new EpisodeStore(o.store);
  const { removedTemps } = await store.init();
  const ctx: EpisodeContext = {
    store,
    maxBytes: o.maxBytes ?? null,
    meta: { requireCodeVersion: o.requireCodeVersion ?? false, windowDays: o.windowDays ?? null, now },
    log,
    ...(o.zstd !== undefined ? { zstd: o.zstd } : {}),
  };

  const inFlight = new Set<Promise<void>>();
  let stopping = false;

  async function handle(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    const who = whoOf(req);
    const refuse = (r: Refusal) => {
      log.info('request_refused', { method: req.method, path: (req.url ?? '').slice(0, 200), status: r.status, error: r.code, ...who });
      refuseEarly(req, res, r);
    };
    if (stopping) return refuse(new Refusal(503, 'shutting_down', 'the receiver is shutting down; retry later', { 'retry-after': '5' }));
    const r = route(req.method, req.url);
    if (r instanceof Refusal) return refuse(r);
    const denied = auth.check(req.headers.authorization);
    if (denied) return refuse(denied);
    const hostId = hostIdOf(req.headers['x-shipper-host']);
    if (hostId instanceof Refusal) return refuse(hostId);
    if (r.name === 'ping') {
      log.info('ping', { host_id: hostId, ...who });
      return sendJson(res, 200, { ok: true, receiver: SERVER_NAME, host_id: hostId, time: now().toISOString() });
    }
    return putEpisode({ req, res, id: r.id, hostId, expectsContinue, who }, ctx);
  }

  const track = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean) => {
    const p = handle(req, res, expectsContinue).catch((err: unknown) => {
      log.error('request_failed', errorFields(err));
      sendJson(res, 500, { error: 'internal', detail: 'the receiver failed; see its log' }, { connection: 'close' });
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  const server = createServer(
    {
      ca: o.tls.ca,
      cert: o.tls.cert,
      key: o.tls.key,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      handshakeTimeout: 10_000,
      // How often Node checks headersTimeout; the default (30 s) would let a slowloris
      // client hold a connection for up to twice the timeout.
      connectionsCheckingInterval: 1_000,
    },
    (req, res) => track(req, res, false),
  );
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => track(req, res, true));
  server.headersTimeout = o.headersTimeoutMs ?? 20_000;
  server.requestTimeout = 0;
  server.keepAliveTimeout = 5_000;
  server.setTimeout(o.idleTimeoutMs ?? 60_000);
  // Every TCP connection, including those still in their TLS handshake, which the HTTP
  // layer does not know about: close() ends what is left of them.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // A client certificate that fails verification is checked by Node after the handshake:
  // the socket is destroyed without a TLS alert, and the error here is a mere "socket hang
  // up"; the real reason is the socket's authorizationError.
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    const reason = socket.authorizationError ? String(socket.authorizationError) : err.message.trim().slice(0, 200);
    log.info('tls_refused', { remote: socket.remoteAddress, code: socket.authorizationError ? undefined : err.code, reason });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 0, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error('server_error', errorFields(err)));
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `https://${host}:${addr.port}`;
  // The first line, parsed by scripts and tests for the port.
  log.notice('receiver_listening', {
    url,
    store: o.store,
    version: VERSION,
    tokens: o.tokens ? o.tokens.length : 'none',
    require_code_version: ctx.meta.requireCodeVersion,
    window_days: ctx.meta.windowDays ?? undefined,
    max_bytes: ctx.maxBytes ?? undefined,
  });
  if (removedTemps > 0) log.notice('store_temps_removed', { store: o.store, count: removedTemps });

  let closing: Promise<void> | null = null;
  const close = (graceMs = 5_000): Promise<void> => {
    closing ??= (async () => {
      stopping = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while (inFlight.size > 0 && Date.now() < deadline) {
        await Promise.race([Promise.allSettled([...inFlight]), sleep(50)]);
      }
      // What is still running is aborted: its handler sees the connection close and removes
      // its temp file before it settles.
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      // Handlers see their connection close and clean up at once; a bounded wait keeps a
      // handler that never settles (a bug) from holding the process past its stop timeout.
      // Its temp file, if any, is removed at the next start.
      const settled = await Promise.race([
        Promise.allSettled([...inFlight, closed]).then(() => true),
        sleep(CLEANUP_WAIT_MS).then(() => false),
      ]);
      if (!settled) log.warn('receiver_stop_incomplete', { in_flight: inFlight.size, waited_ms: CLEANUP_WAIT_MS });
    })();
    return closing;
  };

  return { url, host: addr.address, port: addr.port, server, close };
}
