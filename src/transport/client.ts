// The receiver's client: `ping()` and `putEpisode()` over one Agent, each returning a
// classified Result instead of throwing for anything the receiver or the network did. The
// only throw is SHIP_ABORTED, when the caller's signal (shutdown) cancels the request.
//
// Before every request the TLS files are stat'ed; when one was rotated on disk (a
// cert-manager renewal) and the new set is valid, the next request runs on a new Agent.

import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { materialStamp, readTlsMaterial, type TlsMaterial } from '../config/credentials.js';
import type { Config } from '../config/schema.js';
import { ErrorCodes, ShipperError } from '../errors.js';
import { errorFields, silentLogger, type Logger } from '../log/logger.js';
import { USER_AGENT } from '../version.js';
import {
  classifyStatus,
  describeNetworkKind,
  networkKind,
  parseRetryAfter,
  type NetworkKind,
  type OutcomeClass,
} from './classify.js';
import { unlimited, type Throttle } from './throttle.js';
import { BODY_KEEP_BYTES, describeStatus, errorDetail, headerString, readSome, utf8Prefix } from './answer.js';


// undici is loaded by the first request, not at start-up: it is the largest module the
// daemon needs (~100 files), and READY=1 should not wait for it. Loaded once per process.
type Http = { request: typeof import('undici').request; createAgent: typeof import('./agent.js').createAgent };
let http: Promise<Http> | undefined;
function loadHttp(): Promise<Http> {
  http ??= Promise.all([import('undici'), import('./agent.js')]).then(([u, a]) => ({ request: u.request, createAgent: a.createAgent }));
  return http;
}

export interface Result {
  readonly class: OutcomeClass;
  /** The HTTP status, or null when no answer came. */
  readonly status: number | null;
  /** Why no answer came, or null when one did. */
  readonly kind: NetworkKind | null;
  readonly retryAfterMs: number | null;
  /** At most the first 4 KiB of the answer, as text. */
  readonly body: string;
  /** One line for the operator. */
  readonly message: string;
  readonly elapsedMs: number;
  readonly bytesSent: number;
  /** The `Server` header, or the receiver's own name from its ping answer. */
  readonly server: string | null;
}

export interface PutOptions {
  id: string;
  file: string;
  bytes: number;
  sha256: Buffer;
  signal?: AbortSignal;
  /** Called as bytes leave for the socket (total so far). */
  onProgress?: (sent: number) => void;
}

export interface ClientOptions {
  config: Config;
  tls: TlsMaterial;
  log?: Logger;
  throttle?: Throttle;
  /** Builds the dispatcher for a TLS set, at the first request after a (re)load; production: createAgent. */
  makeDispatcher?: (config: Config, tls: TlsMaterial) => Dispatcher;
  now?: () => number;
}

class IdleTimeout extends Error {
  readonly code = ErrorCodes.IDLE_TIMEOUT;
}

export class ReceiverClient {
  #config: Config;
  #tls: TlsMaterial;
  /** Made by the first request (see loadHttp); null until then and after replace(). */
  #dispatcher: Dispatcher | null = null;
  #log: Logger;
  #throttle: Throttle;
  #make: ((config: Config, tls: TlsMaterial) => Dispatcher) | null;
  #now: () => number;
  #rotationError: string | null = null;

  constructor(options: ClientOptions) {
    this.#config = options.config;
    this.#tls = options.tls;
    this.#log = options.log ?? silentLogger;
    this.#throttle = options.throttle ?? unlimited;
    this.#make = options.makeDispatcher ?? null;
    this.#now = options.now ?? (() => performance.now());
    if (this.#tls.token) this.#log.redact(this.#tls.token);
  }

  get target(): string {
    return this.#config.receiver.url;
  }

  /** Swap in a new config and TLS set (SIGHUP); requests in flight finish on the old Agent. */
  replace(config: Config, tls: TlsMaterial, throttle?: Throttle): void {
    const old = this.#dispatcher;
    this.#config = config;
    this.#tls = tls;
    if (throttle) this.#throttle = throttle;
    if (tls.token) this.#log.redact(tls.token);
    this.#dispatcher = null;
    this.#rotationError = null;
    void old?.close().catch(() => {});
  }

  async close(): Promise<void> {
    const d = this.#dispatcher;
    this.#dispatcher = null;
    await d?.close().catch(() => {});
  }

  /** The dispatcher for the current TLS set, made on first use. */
  #current(createAgent: Http['createAgent']): Dispatcher {
    this.#dispatcher ??= (this.#make ?? createAgent)(this.#config, this.#tls);
    return this.#dispatcher;
  }

  /** Pick up rotated TLS files before a new request (a few stat calls). */
  async #refreshIfRotated(): Promise<void> {
    const stamp = await materialStamp(this.#config);
    if (stamp === this.#tls.stamp) return;
    try {
      const tls = await readTlsMaterial(this.#config);
      this.#log.notice('tls_rotated', { cert: this.#config.receiver.cert, not_after: tls.certNotAfter.toISOString() });
      this.replace(this.#config, tls);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (message !== this.#rotationError) {
        this.#log.error('tls_rotation_refused', { ...errorFields(err), fix: 'the old certificate stays in use until the files are valid again' });
        this.#rotationError = message;
      }
    }
  }

  /**
   * An answer's text with our token blotted out, cut to BODY_KEEP_BYTES: a receiver or a
   * proxy may echo the Authorization header, and the answer goes to stdout and to
   * quarantine_reason.json, where the logger's redaction does not reach.
   */
  #scrub<T extends string | null>(text: T): T {
    const token = this.#tls.token;
    if (text === null) return text;
    const clean = token && text.includes(token) ? text.split(token).join('[redacted]') : text;
    return utf8Prefix(clean, BODY_KEEP_BYTES) as T;
  }

  #headers(extra: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = {
      'user-agent': USER_AGENT,
      'x-shipper-host': this.#config.hostId,
      ...extra,
    };
    if (this.#tls.token) h.authorization = `Bearer ${this.#tls.token}`;
    return h;
  }

  /** POST /v1/ping with the same TLS and headers as an upload. */
  async ping(signal?: AbortSignal): Promise<Result> {
    await this.#refreshIfRotated();
    return this.#send('POST', '/v1/ping', this.#headers({ 'content-length': '0' }), null, signal, () => 0, 0);
  }

  /** PUT the archive at `file` as episode `id`, streamed, with its sha-256 Content-Digest. */
  async putEpisode(o: PutOptions): Promise<Result> {
    await this.#refreshIfRotated();
    const headers = this.#headers({
      'content-type': 'application/zstd',
      'content-length': String(o.bytes),
      'content-digest': `sha-256=:${o.sha256.toString('base64')}:`,
    });
    let sent = 0;
    const throttle = this.#throttle;
    const body = (touch: () => void, signal: AbortSignal) =>
      (async function* () {
        const fh = await open(o.file, 'r');
        try {
          const chunk = throttle.chunkBytes;
          while (sent < o.bytes) {
            const buf = Buffer.allocUnsafe(Math.min(chunk, o.bytes - sent));
            const { bytesRead } = await fh.read(buf, 0, buf.length, sent);
            if (bytesRead === 0) throw new ShipperError(ErrorCodes.IO, `archive ${o.file} is shorter than ${o.bytes} bytes`);
            await throttle.take(bytesRead, signal);
            sent += bytesRead;
            touch();
            o.onProgress?.(sent);
            yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
          }
        } finally {
          await fh.close();
        }
      })();
    return this.#send('PUT', `/v1/episodes/${encodeURIComponent(o.id)}`, headers, body, o.signal, () => sent, o.bytes);
  }

  async #send(
    method: 'POST' | 'PUT',
    path: string,
    headers: Record<string, string>,
    makeBody: ((touch: () => void, signal: AbortSignal) => AsyncIterable<Buffer>) | null,
    outer: AbortSignal | undefined,
    sentSoFar: () => number,
    /** A 2xx is a receipt only once this many body bytes went out. */
    bodyBytes: number,
  ): Promise<Result> {
    const { request, createAgent } = await loadHttp();
    const dispatcher = this.#current(createAgent);
    const target = this.#config.receiver.url;
    const idleMs = this.#config.receiver.idleTimeoutMs;
    const started = this.#now();
    const ac = new AbortController();
    // One timer per request, re-armed whenever a byte moves; it never outlives the call.
    const timer = setTimeout(() => ac.abort(new IdleTimeout('no byte moved')), idleMs);
    const touch = () => void timer.refresh();
    const onOuterAbort = () => ac.abort(outer?.reason);
    if (outer?.aborted) onOuterAbort();
    outer?.addEventListener('abort', onOuterAbort, { once: true });
    const elapsed = () => Math.round(this.#now() - started);
    try {
      const res = await request(target + path, {
        method,
        headers,
        body: makeBody ? Readable.from(makeBody(touch, ac.signal), { objectMode: false, highWaterMark: 1 }) : null,
        dispatcher,
        signal: ac.signal,
      });
      touch();
      const body = this.#scrub(await readSome(res.body, touch, this.#tls.token?.length ?? 0));
      const status = res.statusCode;
      const cls = classifyStatus(status);
      const server = this.#scrub(headerString(res.headers.server));
      const sent = sentSoFar();
      if (cls === 'shipped' && sent < bodyBytes) {
        // Whoever answered 2xx had not been sent the whole archive (a proxy or a broken
        // receiver answering early): that is no receipt, and retiring the episode on it
        // would lose it. It stays and goes again; the receiver answers 200 if it did get it.
        return {
          class: 'unreachable',
          status,
          kind: 'protocol',
          retryAfterMs: null,
          body,
          message: `${target} answered ${status} after only ${sent} of ${bodyBytes} bytes of the archive were sent, which cannot be a receipt; check for a proxy in front of the receiver`,
          elapsedMs: elapsed(),
          bytesSent: sent,
          server,
        };
      }
      return {
        class: cls,
        status,
        kind: null,
        retryAfterMs: parseRetryAfter(headerString(res.headers['retry-after']) ?? undefined) ?? null,
        body,
        message: describeStatus(status, cls, target, body),
        elapsedMs: elapsed(),
        bytesSent: sentSoFar(),
        server,
      };
    } catch (err) {
      if (outer?.aborted) {
        throw new ShipperError(ErrorCodes.ABORTED, `${method} ${target}${path} cancelled`, { cause: err });
      }
      const cause = ac.signal.aborted && ac.signal.reason instanceof IdleTimeout ? ac.signal.reason : err;
      if (cause instanceof ShipperError) throw cause; // our own archive went wrong: not the receiver's fault
      const kind = networkKind(cause);
      this.#log.debug('request_failed', { method, path, kind, ...errorFields(cause) });
      return {
        class: 'unreachable',
        status: null,
        kind,
        retryAfterMs: null,
        body: '',
        message: describeNetworkKind(kind, target) + errorDetail(cause),
        elapsedMs: elapsed(),
        bytesSent: sentSoFar(),
        server: null,
      };
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    }
  }
}
