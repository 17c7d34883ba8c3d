// Every error the shipper raises on purpose is a ShipperError with a stable `code` that
// callers branch on (never on the message) and, where one exists, the low-level error as
// `cause` with its errno intact. The README lists every code; keep that list in step.

export const ErrorCodes = {
  /** Bad command line. Exit 2. */
  USAGE: 'SHIP_USAGE',
  /** The configuration file, a certificate or a folder is wrong. Exit 78. */
  CONFIG_INVALID: 'SHIP_CONFIG_INVALID',
  /** No answer from the receiver: connection, DNS, TLS handshake, timeout. Exit 69. */
  RECEIVER_UNREACHABLE: 'SHIP_RECEIVER_UNREACHABLE',
  /** The receiver refused our credentials (401/403). Exit 77. */
  AUTH_REFUSED: 'SHIP_AUTH_REFUSED',
  /** The receiver answered as if the URL were wrong (404, 405, 501, other 4xx). */
  RECEIVER_MISROUTED: 'SHIP_RECEIVER_MISROUTED',
  /** The receiver is busy or failing (408, 425, 429, 5xx); retry later. */
  RECEIVER_TRANSIENT: 'SHIP_RECEIVER_TRANSIENT',
  /** The receiver rejected the episode for good (400, 409, 412, 413, 415, 422). */
  RECEIVER_REJECTED: 'SHIP_RECEIVER_REJECTED',
  /** No byte moved for receiver.idle_timeout_s during a request (classified unreachable). */
  IDLE_TIMEOUT: 'SHIP_IDLE_TIMEOUT',
  /** Another shipper holds the lock on these folders. Exit 75. */
  LOCKED: 'SHIP_LOCKED',
  /** A write failed with ENOSPC or EDQUOT. */
  DISK_FULL: 'SHIP_DISK_FULL',
  /** A file of the episode changed or vanished while it was packed; retried later. */
  EPISODE_CHANGED: 'SHIP_EPISODE_CHANGED',
  /** A file of the episode cannot be read (EACCES, a name that is not UTF-8): quarantined. */
  EPISODE_UNREADABLE: 'SHIP_EPISODE_UNREADABLE',
  /** The episode is larger than ship.max_episode_bytes: quarantined (too_large). */
  EPISODE_TOO_LARGE: 'SHIP_EPISODE_TOO_LARGE',
  /** The work was cancelled (SIGTERM, shutdown). */
  ABORTED: 'SHIP_ABORTED',
  /** Any other file-system failure, with the errno kept in `cause`. */
  IO: 'SHIP_IO',
  /** A bug: something that should not happen. Exit 1. */
  INTERNAL: 'SHIP_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class ShipperError extends Error {
  readonly code: ErrorCode;
  /** Extra structured facts for the log line (never secrets). */
  readonly details: Readonly<Record<string, string | number | boolean | undefined>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, string | number | boolean | undefined> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ShipperError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

export function isShipperError(err: unknown, code?: ErrorCode): err is ShipperError {
  return err instanceof ShipperError && (code === undefined || err.code === code);
}

/** The errno-style code of a Node system error (`ENOENT`, `ECONNREFUSED`, ...), if any. */
export function errnoOf(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return undefined;
}

export function isDiskFull(err: unknown): boolean {
  const code = errnoOf(err);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * Wrap a file-system error so that a full disk always surfaces as SHIP_DISK_FULL and
 * everything else as SHIP_IO, each naming what was being done.
 */
export function fsError(what: string, err: unknown): ShipperError {
  if (err instanceof ShipperError) return err;
  const errno = errnoOf(err) ?? 'unknown';
  if (isDiskFull(err)) {
    return new ShipperError(ErrorCodes.DISK_FULL, `${what}: the disk is full (${errno}); free space in the data folder`, {
      cause: err,
      details: { errno },
    });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new ShipperError(ErrorCodes.IO, `${what}: ${msg}`, { cause: err, details: { errno } });
}

/** The exit code SPEC assigns to an error that ends a CLI mode. */
export function exitCodeFor(err: unknown): number {
  if (!(err instanceof ShipperError)) return 1;
  switch (err.code) {
    case ErrorCodes.USAGE:
      return 2;
    case ErrorCodes.CONFIG_INVALID:
      return 78;
    case ErrorCodes.RECEIVER_UNREACHABLE:
      return 69;
    case ErrorCodes.AUTH_REFUSED:
      return 77;
    case ErrorCodes.LOCKED:
      return 75;
    default:
      return 1;
  }
}

export const ExitCodes = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  UNAVAILABLE: 69,
  TEMPFAIL: 75,
  NOPERM: 77,
  CONFIG: 78,
} as const;
