import { openSync, closeSync, fstatSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger, formatLine, stderrIsJournal } from '../../src/log/logger.js';
import { SHIPPER } from '../helpers/world.js';

describe('log lines', () => {
  it('are one event a line: event= first, key=value, values quoted only when they need it', () => {
    expect(formatLine('shipped', { episode: 'ep-1', bytes: 12, ok: true, skip: undefined, none: null })).toBe('event=shipped episode=ep-1 bytes=12 ok=true none=-');
    expect(formatLine('x', { message: 'two words', q: 'say "hi"', empty: '' })).toBe('event=x message="two words" q="say \\"hi\\"" empty=""');
  });

  it('carry the syslog priority under journald and a time and level elsewhere', () => {
    const lines: string[] = [];
    const j = createLogger({ journald: true, write: (l) => lines.push(l), level: 'debug' });
    j.error('a');
    j.warn('b');
    j.notice('c');
    j.info('d');
    j.debug('e');
    expect(lines).toEqual(['<3>event=a\n', '<4>event=b\n', '<5>event=c\n', '<6>event=d\n', '<7>event=e\n']);
    const plain: string[] = [];
    createLogger({ journald: false, write: (l) => plain.push(l), now: () => new Date(0) }).info('x', { a: 1 });
    expect(plain).toEqual(['1970-01-01T00:00:00.000Z info event=x a=1\n']);
  });

  it('never carry a redacted secret, and never break across lines', () => {
    const lines: string[] = [];
    const log = createLogger({ journald: true, write: (l) => lines.push(l) });
    log.redact('s3cret-token-value');
    log.error('oops', { detail: 'Bearer s3cret-token-value\nsecond line' });
    expect(lines).toEqual(['<3>event=oops detail="Bearer [redacted]\\nsecond line"\n']);
  });

  it('take journald from $JOURNAL_STREAM only when it names the stream stderr really is', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shipper-log-'));
    try {
      const file = join(dir, 'stderr');
      const fd = openSync(file, 'w');
      const st = fstatSync(fd);
      const run = (stream: string) =>
        spawnSync(process.execPath, [SHIPPER, '--once', '--config', join(dir, 'missing.toml')], { env: { PATH: process.env.PATH, JOURNAL_STREAM: stream }, stdio: ['ignore', 'ignore', fd] });
      expect(run(`${st.dev}:${st.ino}`).status).toBe(78);
      expect(run('1:2').status).toBe(78);
      closeSync(fd);
      const [journal, shell] = readFileSync(file, 'utf8').trimEnd().split('\n');
      expect(journal).toMatch(/^<3>shipper: config .*missing.toml: cannot read the file \(ENOENT\)/);
      expect(shell).toMatch(/^shipper: config /);
      expect(stderrIsJournal({})).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
