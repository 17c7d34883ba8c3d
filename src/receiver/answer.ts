// Every answer the receiver gives is JSON. A refusal carries a stable `error` code that
// clients and tests branch on, and a `detail` for people; neither ever echoes a token.

import type { ServerResponse } from 'node:http';
import { VERSION } from '../version.js';

export const SERVER_NAME = `shipper-receiver/${VERSION}`;

/** A refusal of a request: the status, the stable code, the human detail. */
export class Refusal extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, code: string, detail: string, headers: Record<string, string> = {}) {
    super(detail);
    this.name = 'Refusal';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** Send `body` as the whole JSON answer, unless an answer has already started. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    server: SERVER_NAME,
    ...headers,
  });
  res.end(text);
}

export function sendRefusal(res: ServerResponse, refusal: Refusal, headers: Record<string, string> = {}): void {
  sendJson(res, refusal.status, { error: refusal.code, detail: refusal.message }, { ...refusal.headers, ...headers });
}
