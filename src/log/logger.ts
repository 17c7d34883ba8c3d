// Logs go to stderr, one event a line, `key=value` fields with a stable `event=` name
// first. Under journald (stderr is the stream $JOURNAL_STREAM names) each line starts with its syslog priority
// (`<3>` error ... `<7>` debug) so that `journalctl -p` works; elsewhere it starts with an
// ISO time and the level. Secrets registered with `redact()` are replaced before a line is
// written, as a last line of defence: no code path should hand one to the logger anyway.

import { fstatSync } from 'node:fs';

export type Level = 'debug' | 'info' | 'notice' | 'warn' | 'error';
export type Fields = Record<string, string | number | boolean | bigint | null | undefined>;

const PRIORITY: Record<Level, number> = { error: 3, warn: 4, notice: 5, info: 6, debug: 7 };
const RANK: Record<Level, number> = { debug: 0, info: 1, notice: 2, warn: 3, error: 4 };

export interface Logger {
  debug(event: string, fields?: Fields): void;
  info(event: string, fields?: Fields): void;
  notice(event: string, fields?: Fields): void;
  warn(event: string, fields?: Fields): void;
  error(event: string, fields?: Fields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: Fields): Logger;
  /** Never let this string reach a log line. */
  redact(secret: string): void;
}

export interface LoggerOptions {
  write?: (line: string) => void;
  journald?: boolean;
  level?: Level;
  now?: () => Date;
}

const SAFE = /^[A-Za-z0-9_.,:/@+%^-]+$/;

/** `key=value` with the value quoted (JSON string rules) when it is not a plain token. */
export function formatValue(value: Fields[string]): string {
  if (value === null || value === undefined) return '-';
  const s = String(value);
  if (s !== '' && SAFE.test(s)) return s;
  return JSON.stringify(s);
}

/**
 * True when stderr is connected to journald: $JOURNAL_STREAM holds `dev:ino` of the stream
 * systemd gave the service, and it must match what fd 2 is now (a shell started from a
 * service inherits the variable but not the stream).
 */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const js = env.JOURNAL_STREAM;
  if (!js) return false;
  try {
    const st = fstatSync(2);
    return js === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

export function formatLine(event: string, fields: Fields): string {
  let line = `event=${event}`;
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    line += ` ${k}=${formatValue(v)}`;
  }
  return line;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const journald = options.journald ?? stderrIsJournal();
  const minRank = RANK[options.level ?? ((process.env.SHIPPER_LOG_LEVEL as Level | undefined) ?? 'info')] ?? RANK.info;
  const now = options.now ?? (() => new Date());
  const secrets: string[] = [];

  function emit(level: Level, event: string, fields: Fields): void {
    if (RANK[level] < minRank) return;
    let line = formatLine(event, fields);
    for (const s of secrets) line = line.split(s).join('[redacted]');
    line = line.replace(/[\r\n]+/g, ' ');
    write(journald ? `<${PRIORITY[level]}>${line}\n` : `${now().toISOString()} ${level} ${line}\n`);
  }

  function make(base: Fields): Logger {
    return {
      debug: (e, f = {}) => emit('debug', e, { ...base, ...f }),
      info: (e, f = {}) => emit('info', e, { ...base, ...f }),
      notice: (e, f = {}) => emit('notice', e, { ...base, ...f }),
      warn: (e, f = {}) => emit('warn', e, { ...base, ...f }),
      error: (e, f = {}) => emit('error', e, { ...base, ...f }),
      child: (f) => make({ ...base, ...f }),
      redact: (secret) => {
        if (secret.length >= 4 && !secrets.includes(secret)) secrets.push(secret);
      },
    };
  }
  return make({});
}

/** A logger that drops everything, for callers that were given none. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  notice: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
  redact: () => {},
};

/** A log-safe summary of an error: its code, errno and message, never its stack. */
export function errorFields(err: unknown): Fields {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; cause?: unknown };
    const cause = e.cause as { code?: unknown } | undefined;
    return {
      code: typeof e.code === 'string' ? e.code : undefined,
      errno: cause && typeof cause.code === 'string' ? cause.code : undefined,
      error: e.message,
    };
  }
  return { error: String(err) };
}
