// A receiver for one test: in-process on port 0 with the throwaway PKI, its store in a
// temp folder, its log lines kept for assertions. And a small mutual-TLS client to talk
// to it (undici with the client certificate), which always consumes the answer's body.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { createLogger } from '../../src/log/logger.js';
import { createReceiver, type Receiver, type ReceiverOptions } from '../../src/receiver/server.js';
import { makePki, type CertFiles, type Pki } from './pki.js';

export interface TestReceiver {
  readonly receiver: Receiver;
  readonly url: string;
  readonly store: string;
  readonly pki: Pki;
  readonly logs: string[];
  stop(): Promise<void>;
}

export async function startReceiver(options: Partial<ReceiverOptions> = {}): Promise<TestReceiver> {
  const pki = await makePki();
  const store = await mkdtemp(join(tmpdir(), 'shipper-store-'));
  const logs: string[] = [];
  const receiver = await createReceiver({
    store,
    tls: { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem },
    log: createLogger({ write: (l) => void logs.push(l), journald: false, level: 'debug' }),
    ...options,
  });
  return {
    receiver,
    url: receiver.url,
    store,
    pki,
    logs,
    async stop() {
      await receiver.close(1000);
      await rm(store, { recursive: true, force: true });
    },
  };
}

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** The parsed JSON body, or null. */
  readonly json: Record<string, unknown> | null;
}

/** A mutual-TLS client for `pki` (the client certificate of `ca` unless another is given). */
export function tlsClient(pki: Pki, cert: CertFiles | null = pki.client, ca: Buffer = pki.ca.certPem): Agent {
  return new Agent({
    connect: { ca, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}), rejectUnauthorized: true, servername: 'localhost' },
  });
}

export async function send(
  agent: Agent,
  url: string,
  method: 'PUT' | 'POST' | 'GET' | 'DELETE',
  headers: Record<string, string> = {},
  body: Buffer | NodeJS.ReadableStream | null = null,
): Promise<Answer> {
  const res = await request(url, { method, headers, body: body as Buffer | null, dispatcher: agent });
  const text = await res.body.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}
