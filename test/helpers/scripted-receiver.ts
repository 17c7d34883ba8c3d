// A receiver that answers what the test tells it to: real HTTPS with client certificates
// from the test PKI, real bodies consumed, but scripted statuses per request. For the
// answer classes the reference receiver never gives (503, 429, 404 on PUT, 500 ...).

import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Pki } from './pki.js';

export interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  bytes: number;
}

export interface Script {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export type Answerer = (req: Seen, n: number) => Script;

export interface ScriptedReceiver {
  url: string;
  seen: Seen[];
  answer: Answerer;
  close(): Promise<void>;
}

export async function scriptedReceiver(pki: Pki, answer: Answerer): Promise<ScriptedReceiver> {
  const seen: Seen[] = [];
  const state: { answer: Answerer } = { answer };
  const server: Server = createServer(
    { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem, requestCert: true, rejectUnauthorized: true },
    (req: IncomingMessage, res: ServerResponse) => {
      let bytes = 0;
      req.on('data', (d: Buffer) => (bytes += d.length));
      req.on('end', () => {
        const s: Seen = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, bytes };
        seen.push(s);
        const a = state.answer(s, seen.length);
        res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
        res.end(a.body ?? JSON.stringify({ error: `scripted_${a.status}`, detail: 'scripted answer' }));
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    seen,
    get answer() {
      return state.answer;
    },
    set answer(a: Answerer) {
      state.answer = a;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Ping answers 200; PUTs get `put(req, n)`. */
export function pingOk(put: (req: Seen, n: number) => Script): Answerer {
  return (req, n) => (req.path.endsWith('/v1/ping') ? { status: 200, body: '{"ok":true}' } : put(req, n));
}
