// What an answer (or the lack of one) means for an episode. Pure functions, table-tested:
// an HTTP status or a network error in, one of SPEC's classes out. The rule that guards the
// fleet: only an answer about the episode itself is `fatal`; anything that could come from
// our credentials, the TLS path, a proxy or a wrong URL keeps the episode.

export type OutcomeClass = 'shipped' | 'fatal' | 'auth' | 'misrouted' | 'transient' | 'unreachable';

/** Why nothing (usable) came back. */
export type NetworkKind =
  | 'refused'
  | 'reset'
  | 'dns'
  | 'connect_timeout'
  | 'idle_timeout'
  | 'tls_server_cert'
  | 'tls_client_cert'
  | 'tls'
  | 'protocol'
  | 'aborted'
  | 'other';

import { ErrorCodes, type ErrorCode } from '../errors.js';

const FATAL = new Set([400, 409, 412, 413, 415, 422]);
const TRANSIENT = new Set([408, 425, 429]);

/** The stable error code that log lines carry for a class (none for success). */
export function codeForClass(cls: OutcomeClass | 'disk_full' | 'changed' | 'pack_failed'): ErrorCode | undefined {
  switch (cls) {
    case 'shipped':
      return undefined;
    case 'fatal':
      return ErrorCodes.RECEIVER_REJECTED;
    case 'auth':
      return ErrorCodes.AUTH_REFUSED;
    case 'misrouted':
      return ErrorCodes.RECEIVER_MISROUTED;
    case 'transient':
      return ErrorCodes.RECEIVER_TRANSIENT;
    case 'unreachable':
      return ErrorCodes.RECEIVER_UNREACHABLE;
    case 'disk_full':
      return ErrorCodes.DISK_FULL;
    case 'changed':
      return ErrorCodes.EPISODE_CHANGED;
    case 'pack_failed':
      return ErrorCodes.IO;
  }
}

/** SPEC's table: the class of an HTTP status. */
export function classifyStatus(status: number): OutcomeClass {
  if (status >= 200 && status <= 299) return 'shipped';
  if (FATAL.has(status)) return 'fatal';
  if (status === 401 || status === 403) return 'auth';
  // 501 Not Implemented: this server does not do PUT at that URL, which is a routing
  // problem (SPEC lists it with 404 and 405), not a receiver in trouble.
  if (status === 501) return 'misrouted';
  if (TRANSIENT.has(status) || (status >= 500 && status <= 599)) return 'transient';
  if (status >= 400 && status <= 499) return 'misrouted';
  // 1xx that reached us as final, 3xx (we never follow redirects: a redirect means the URL
  // is wrong, and following one would send the episode somewhere unverified), and nonsense.
  return 'misrouted';
}

const SERVER_CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

/** Alerts a server sends when it rejects the client certificate (or its absence). */
const CLIENT_CERT_ALERT = /ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED|HANDSHAKE_FAILURE|DECRYPT_ERROR)/;

function codesOf(err: unknown): string[] {
  const codes: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string') codes.push(c);
    const name = (e as { name?: unknown }).name;
    // undici's parser error carries no code when llhttp names none (bytes that are not HTTP).
    if (name === 'AbortError' || name === 'TimeoutError' || name === 'HTTPParserError') codes.push(name);
    e = (e as { cause?: unknown }).cause;
  }
  return codes;
}

/** The kind of network failure behind `err` (undici and Node errors, causes followed). */
export function networkKind(err: unknown): NetworkKind {
  const codes = codesOf(err);
  const has = (...cs: string[]) => codes.some((c) => cs.includes(c));
  if (has('SHIP_IDLE_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT')) return 'idle_timeout';
  if (has('AbortError', 'UND_ERR_ABORTED', 'UND_ERR_ABORT', 'ABORT_ERR', 'SHIP_ABORTED')) return 'aborted';
  if (has('UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT')) return 'connect_timeout';
  if (has('ECONNREFUSED')) return 'refused';
  if (has('ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA')) return 'dns';
  if (codes.some((c) => SERVER_CERT_CODES.has(c))) return 'tls_server_cert';
  if (codes.some((c) => CLIENT_CERT_ALERT.test(c))) return 'tls_client_cert';
  if (codes.some((c) => c.startsWith('ERR_SSL_') || c.startsWith('ERR_TLS_') || c === 'EPROTO')) return 'tls';
  if (codes.some((c) => c.startsWith('HPE_')) || has('UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_INFO', 'UND_ERR_HEADERS_OVERFLOW', 'HTTPParserError')) return 'protocol';
  if (has('ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED')) return 'reset';
  return 'other';
}

/** One line for the operator: what failed, and what to try. */
export function describeNetworkKind(kind: NetworkKind, target: string): string {
  switch (kind) {
    case 'refused':
      return `nothing is listening at ${target} (connection refused); check that the receiver runs and receiver.url's port`;
    case 'reset':
      // Under TLS 1.3 a receiver that refuses our client certificate (missing, from another
      // CA, expired) closes the connection after the handshake, often without an alert the
      // client gets to see: undici reports UND_ERR_SOCKET "other side closed", not a TLS error.
      return `the connection to ${target} was closed or reset before an answer; check the receiver's logs (a receiver that refuses our client certificate closes the connection this way) and any proxy or firewall in between`;
    case 'dns':
      return `the host name of ${target} does not resolve; check receiver.url and this host's DNS`;
    case 'connect_timeout':
      return `connecting to ${target} timed out; check the network path and receiver.connect_timeout_s`;
    case 'idle_timeout':
      return `${target} stopped moving bytes for longer than receiver.idle_timeout_s; the receiver or the network is stalled`;
    case 'tls_server_cert':
      return `the receiver's certificate at ${target} is not trusted; check receiver.ca (the CA that signed it) and receiver.server_name`;
    case 'tls_client_cert':
      return `the receiver at ${target} refused our client certificate; check that receiver.cert is signed by a CA the receiver trusts and has not expired`;
    case 'tls':
      return `the TLS handshake with ${target} failed; check that receiver.url points at the receiver's TLS port`;
    case 'protocol':
      return `${target} did not answer with valid HTTP; check that receiver.url points at the receiver and not at another service`;
    case 'aborted':
      return `the request to ${target} was cancelled`;
    case 'other':
      return `the request to ${target} failed`;
  }
}

/**
 * `Retry-After` in milliseconds from `now`: delta-seconds or an HTTP-date (RFC 9110
 * 10.2.3). Undefined when absent or unparsable; never negative.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: Date = new Date()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const s = v.trim();
  if (/^\d+$/.test(s)) {
    const secs = Number(s);
    return Number.isSafeInteger(secs) ? secs * 1000 : undefined;
  }
  // IMF-fixdate, and the obsolete RFC 850 / asctime forms Date.parse also understands.
  if (!/[A-Za-z]{3}/.test(s)) return undefined;
  const t = Date.parse(s);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now.getTime());
}
