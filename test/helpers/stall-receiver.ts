// A receiver that hangs: mutual TLS with the test PKI's server certificate, so the shipper
// trusts it; `POST /v1/ping` answers 200 like the real one (a pass only uploads after a good
// ping), but a `PUT` is accepted and then never read nor answered. Once the kernel buffers
// are full, no byte of the upload moves any more: the hung upload the watchdog is for.

import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Pki } from './pki.js';

export interface StallReceiver {
  readonly url: string;
  /** Resolves when the first PUT's headers arrived. */
  readonly putArrived: Promise<string>;
  readonly puts: string[];
  close(): Promise<void>;
}

export async function startStallReceiver(pki: Pki): Promise<StallReceiver> {
  const sockets = new Set<Socket>();
  const puts: string[] = [];
  let arrived!: (path: string) => void;
  const putArrived = new Promise<string>((r) => (arrived = r));
  const server: Server = createServer(
    { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      if (req.method === 'POST' && req.url === '/v1/ping') {
        req.resume();
        const body = JSON.stringify({ ok: true, server: 'stall-receiver' });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      // Never read the body, never answer: the request's buffer fills, the parser stops
      // reading the socket, TCP's window closes, and the client's writes stop.
      puts.push(req.url ?? '');
      req.pause();
      arrived(req.url ?? '');
    },
  );
  server.on('secureConnection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // No timeouts of its own: it must out-wait the client.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  server.timeout = 0;
  server.keepAliveTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    putArrived,
    puts,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
