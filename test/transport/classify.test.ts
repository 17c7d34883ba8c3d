import { errors } from 'undici';
import { describe, expect, it } from 'vitest';
import { classifyStatus, describeNetworkKind, networkKind, parseRetryAfter, type NetworkKind, type OutcomeClass } from '../../src/transport/classify.js';

describe('classifyStatus follows the SPEC answer table', () => {
  const rows: [OutcomeClass, number[]][] = [
    ['shipped', [200, 201, 202, 204, 299]],
    ['fatal', [400, 409, 412, 413, 415, 422]],
    ['auth', [401, 403]],
    ['misrouted', [404, 405, 501, 402, 406, 410, 411, 414, 418, 421, 451, 499]],
    ['transient', [408, 425, 429, 500, 502, 503, 504, 507, 599]],
    // A redirect is never followed (it would send the episode somewhere unverified), and a
    // 1xx or nonsense status as a final answer means something in between is wrong.
    ['misrouted', [100, 101, 199, 301, 302, 307, 308, 0, 600, 999]],
  ];
  for (const [cls, statuses] of rows) {
    for (const status of statuses) {
      it(`classifies ${status} as ${cls}`, () => {
        expect(classifyStatus(status)).toBe(cls);
      });
    }
  }
});

// Two undici classes whose runtime constructors the type declarations do not describe:
// HTTPParserError(message, llhttpCode, data) and the AbortError base class.
const HTTPParserError = errors.HTTPParserError as unknown as new (message: string, code?: string) => Error;
const UndiciAbortError = (errors as unknown as { AbortError: new () => Error }).AbortError;

/** An error as Node's net/tls layers make them: a message, a code, maybe an errno. */
function sysError(code: string, message = code, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { code, ...extra });
}

describe('networkKind recognises every network failure', () => {
  const rows: [NetworkKind, string, unknown][] = [
    ['refused', 'ECONNREFUSED from connect', sysError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1', { errno: -111, syscall: 'connect' })],
    ['reset', 'ECONNRESET', sysError('ECONNRESET', 'read ECONNRESET', { errno: -104, syscall: 'read' })],
    ['reset', 'EPIPE while writing the body', sysError('EPIPE', 'write EPIPE', { errno: -32, syscall: 'write' })],
    ['reset', 'EHOSTUNREACH', sysError('EHOSTUNREACH')],
    ['reset', 'ENETUNREACH', sysError('ENETUNREACH')],
    ['reset', 'undici SocketError "other side closed"', new errors.SocketError('other side closed')],
    ['reset', 'undici ClientClosedError', new errors.ClientClosedError()],
    ['dns', 'ENOTFOUND from getaddrinfo', sysError('ENOTFOUND', 'getaddrinfo ENOTFOUND receiver.example', { syscall: 'getaddrinfo', hostname: 'receiver.example' })],
    ['dns', 'EAI_AGAIN', sysError('EAI_AGAIN', 'getaddrinfo EAI_AGAIN receiver.example')],
    ['connect_timeout', 'undici ConnectTimeoutError', new errors.ConnectTimeoutError()],
    ['connect_timeout', 'ETIMEDOUT from the kernel', sysError('ETIMEDOUT', 'connect ETIMEDOUT 10.0.0.1:8443')],
    ['idle_timeout', 'undici HeadersTimeoutError', new errors.HeadersTimeoutError()],
    ['idle_timeout', 'undici BodyTimeoutError', new errors.BodyTimeoutError()],
    ['idle_timeout', "the client's own idle timer", Object.assign(new Error('no byte moved'), { code: 'SHIP_IDLE_TIMEOUT' })],
    ['tls_server_cert', 'a receiver certificate from another CA', sysError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate')],
    ['tls_server_cert', 'a receiver certificate for another name', sysError('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames")],
    ['tls_server_cert', 'an expired receiver certificate', sysError('CERT_HAS_EXPIRED', 'certificate has expired')],
    ['tls_server_cert', 'a self-signed receiver certificate', sysError('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate')],
    ['tls_server_cert', 'a chain ending in an unknown self-signed root', sysError('SELF_SIGNED_CERT_IN_CHAIN')],
    ['tls_server_cert', 'a missing intermediate', sysError('UNABLE_TO_GET_ISSUER_CERT_LOCALLY')],
    ['tls_client_cert', 'TLS 1.3 alert: certificate required', sysError('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required', { library: 'SSL routines', reason: 'tlsv13 alert certificate required' })],
    ['tls_client_cert', 'TLS alert: unknown CA', sysError('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'tlsv1 alert unknown ca')],
    ['tls_client_cert', 'TLS alert: bad certificate', sysError('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'sslv3 alert bad certificate')],
    ['tls_client_cert', 'TLS alert: certificate expired', sysError('ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED')],
    ['tls', 'TLS spoken to a plain-HTTP port', sysError('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number')],
    ['tls', 'EPROTO', sysError('EPROTO', 'write EPROTO')],
    ['tls', 'a TLS error of Node', sysError('ERR_TLS_HANDSHAKE_TIMEOUT')],
    ['protocol', 'undici HTTPParserError with an llhttp code', new HTTPParserError('Expected HTTP/', 'INVALID_CONSTANT')],
    ['protocol', 'undici HTTPParserError without a code (bytes that are not HTTP)', new HTTPParserError('Response does not match the HTTP/1.1 protocol')],
    ['protocol', 'undici ResponseContentLengthMismatchError', new errors.ResponseContentLengthMismatchError()],
    ['protocol', 'undici InformationalError', new errors.InformationalError('reset')],
    ['protocol', 'undici HeadersOverflowError', new errors.HeadersOverflowError()],
    ['aborted', 'undici RequestAbortedError', new errors.RequestAbortedError()],
    ['aborted', 'undici AbortError', new UndiciAbortError()],
    ['aborted', 'a DOM AbortError', new DOMException('This operation was aborted', 'AbortError')],
    ['aborted', "Node's ABORT_ERR", sysError('ABORT_ERR', 'The operation was aborted')],
    ['other', 'an error without a code', new Error('something else')],
    ['other', 'not an error at all', 'a string'],
    ['other', 'undefined', undefined],
  ];
  for (const [kind, what, err] of rows) {
    it(`reads ${what} as ${kind}`, () => {
      expect(networkKind(err)).toBe(kind);
    });
  }

  it('follows causes: a wrapper around a refused connection is refused', () => {
    const inner = sysError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1');
    expect(networkKind(new TypeError('fetch failed', { cause: inner }))).toBe('refused');
    expect(networkKind(new Error('a', { cause: new Error('b', { cause: new errors.BodyTimeoutError() }) }))).toBe('idle_timeout');
  });

  it('does not loop on a cycle of causes', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(networkKind(a)).toBe('other');
  });

  it('gives every kind an operator message that names the target', () => {
    const kinds: NetworkKind[] = ['refused', 'reset', 'dns', 'connect_timeout', 'idle_timeout', 'tls_server_cert', 'tls_client_cert', 'tls', 'protocol', 'aborted', 'other'];
    for (const k of kinds) expect(describeNetworkKind(k, 'https://rx.example:8443')).toContain('https://rx.example:8443');
  });
});

describe('parseRetryAfter', () => {
  const now = new Date('2026-11-22T10:00:00Z');

  it('reads delta-seconds', () => {
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
  });

  it('reads an HTTP-date in the future as the time until then', () => {
    expect(parseRetryAfter('Sun, 22 Nov 2026 10:00:30 GMT', now)).toBe(30_000);
    // The obsolete RFC 850 form, which RFC 9110 still asks recipients to accept.
    expect(parseRetryAfter('Sunday, 22-Nov-26 10:01:00 GMT', now)).toBe(60_000);
  });

  it('reads an HTTP-date in the past as no wait at all, never a negative one', () => {
    expect(parseRetryAfter('Sun, 22 Nov 2026 09:00:00 GMT', now)).toBe(0);
  });

  it('ignores garbage', () => {
    for (const v of ['', 'soon', '-5', '1.5', '7s', '12abc', 'null', '99999999999999999999']) {
      expect(parseRetryAfter(v, now), JSON.stringify(v)).toBeUndefined();
    }
  });

  it('is undefined when absent', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('takes the first value of a repeated header', () => {
    expect(parseRetryAfter(['3', '60'], now)).toBe(3000);
    expect(parseRetryAfter([], now)).toBeUndefined();
  });
});
