import { describe, expect, it } from 'vitest';
import { parseArgs, parseListen } from '../../src/receiver/args.js';
import { parseContentDigest } from '../../src/receiver/digest.js';
import { parseTokens } from '../../src/receiver/material.js';
import { checkMeta, needsMeta, type MetaPolicy } from '../../src/receiver/meta.js';
import { hostIdOf, route } from '../../src/receiver/routes.js';
import { entryProblem } from '../../src/receiver/verify.js';
import { Refusal } from '../../src/receiver/answer.js';

const b64 = (n: number, fill = 1) => Buffer.alloc(n, fill).toString('base64');

describe('parseContentDigest', () => {
  it('reads one sha-256 byte sequence', () => {
    const d = parseContentDigest(`sha-256=:${b64(32)}:`);
    expect(d.expected.get('sha-256')).toEqual(Buffer.alloc(32, 1));
    expect(d.ignored).toEqual([]);
  });

  it('reads several members, across repeated header lines, ignoring parameters and unknown algorithms', () => {
    const d = parseContentDigest([`md5=:AAAA:, sha-256=:${b64(32)}:;p=1`, ` sha-512=:${b64(64, 2)}:, unixsum=:AAAA:`]);
    expect([...d.expected.keys()]).toEqual(['sha-256', 'sha-512']);
    expect(d.ignored).toEqual(['md5', 'unixsum']);
  });

  it('keeps the last value of a repeated key, as RFC 8941 dictionaries do', () => {
    expect(parseContentDigest(`sha-256=:${b64(32, 1)}:, sha-256=:${b64(32, 9)}:`).expected.get('sha-256')).toEqual(Buffer.alloc(32, 9));
  });

  it('treats an absent or empty header as nothing to check', () => {
    expect(parseContentDigest(undefined).expected.size).toBe(0);
    expect(parseContentDigest('  ').expected.size).toBe(0);
  });

  it('refuses malformed members with 400 bad_digest', () => {
    for (const bad of ['sha-256=abc', `sha-256="${b64(32)}"`, 'sha-256=:AAAA:', `sha-512=:${b64(32)}:`, 'SHA-256=:x:', '=:x:', 'sha-256=:!!:']) {
      const err = (() => {
        try {
          parseContentDigest(bad);
          return null;
        } catch (e) {
          return e;
        }
      })();
      expect(err, bad).toBeInstanceOf(Refusal);
      expect((err as Refusal).status).toBe(400);
      expect((err as Refusal).code).toBe('bad_digest');
    }
  });
});

describe('entryProblem', () => {
  it('accepts <id>, <id>/ and everything under it', () => {
    for (const name of ['ep', 'ep/', 'ep/a', 'ep/a/b.txt', 'ep/.hidden', 'ep/..x', 'ep/x..']) expect(entryProblem('ep', name), name).toBeNull();
  });

  it('names what is wrong with every other name', () => {
    expect(entryProblem('ep', '/etc/passwd')).toBe('is an absolute path');
    expect(entryProblem('ep', 'ep/../x')).toBe('has a ".." component');
    expect(entryProblem('ep', 'ep/a/../../x')).toBe('has a ".." component');
    expect(entryProblem('ep', 'other/x')).toBe('is outside ep/');
    expect(entryProblem('ep', 'ep2/x')).toBe('is outside ep/');
    expect(entryProblem('ep', './ep/x')).toBe('is outside ep/');
    expect(entryProblem('ep', 'e')).toBe('is outside ep/');
  });
});

describe('checkMeta', () => {
  const now = new Date('2026-11-22T12:00:00Z');
  const policy = (p: Partial<MetaPolicy>): MetaPolicy => ({ requireCodeVersion: false, windowDays: null, now: () => now, ...p });
  const meta = (o: unknown) => Buffer.from(JSON.stringify(o));
  const commit = 'AbCdEf0123456789abcdef0123456789ABCDEF01';

  it('is not needed without a gate', () => {
    expect(needsMeta(policy({}))).toBe(false);
    expect(needsMeta(policy({ requireCodeVersion: true }))).toBe(true);
    expect(needsMeta(policy({ windowDays: 3 }))).toBe(true);
  });

  it('accepts a 40-hex commit in either case', () => {
    expect(checkMeta('ep', meta({ code_version: { commit } }), policy({ requireCodeVersion: true }))).toBeNull();
  });

  it('refuses a missing meta.json, a missing or malformed commit, and meta.json that is not an object', () => {
    const p = policy({ requireCodeVersion: true });
    for (const m of [null, meta({}), meta({ code_version: null }), meta({ code_version: { commit: commit.slice(1) } }), meta([commit]), meta('x')]) {
      expect(checkMeta('ep', m, p)?.code).toBe('missing_code_version');
    }
    expect(checkMeta('ep', Buffer.from('{'), p)?.code).toBe('bad_meta');
  });

  it('measures the window from now in both directions, at day precision', () => {
    const p = policy({ windowDays: 2 });
    const at = (ms: number) => meta({ ended_at: new Date(now.getTime() + ms).toISOString() });
    expect(checkMeta('ep', at(-2 * 86_400_000), p)).toBeNull();
    expect(checkMeta('ep', at(2 * 86_400_000), p)).toBeNull();
    expect(checkMeta('ep', at(-2 * 86_400_000 - 1000), p)?.status).toBe(412);
    expect(checkMeta('ep', at(2 * 86_400_000 + 1000), p)?.code).toBe('outside_window');
    expect(checkMeta('ep', meta({ ended_at: 12345 }), p)?.code).toBe('bad_meta');
    expect(checkMeta('ep', meta({ ended_at: 'not a date' }), p)?.code).toBe('bad_meta');
    expect(checkMeta('ep', meta({}), p)).toBeNull();
    expect(checkMeta('ep', null, p)).toBeNull();
  });
});

describe('route and hostIdOf', () => {
  it('routes ping and episodes, with the id decoded and checked', () => {
    expect(route('POST', '/v1/ping')).toEqual({ name: 'ping' });
    expect(route('POST', '/v1/ping?x=1')).toEqual({ name: 'ping' });
    expect(route('PUT', '/v1/episodes/ep-1.a_b')).toEqual({ name: 'episode', id: 'ep-1.a_b' });
    expect(route('PUT', '/v1/episodes/ep%2D1')).toEqual({ name: 'episode', id: 'ep-1' });
    expect((route('PUT', '/v1/episodes/a%2Fb') as Refusal).code).toBe('invalid_episode_id');
    expect((route('PUT', '/v1/episodes/%E0%A4%A') as Refusal).code).toBe('invalid_episode_id');
    expect((route('PUT', '/v1/episodes/a/b') as Refusal).code).toBe('invalid_episode_id');
  });

  it('answers 405 with Allow for the wrong method and 404 elsewhere', () => {
    expect(route('GET', '/v1/ping')).toMatchObject({ status: 405, headers: { allow: 'POST' } });
    expect(route('POST', '/v1/episodes/x')).toMatchObject({ status: 405, headers: { allow: 'PUT' } });
    expect(route('PUT', '/v1/other')).toMatchObject({ status: 404 });
  });

  it('checks X-Shipper-Host', () => {
    expect(hostIdOf('lab-01')).toBe('lab-01');
    expect((hostIdOf(undefined) as Refusal).code).toBe('invalid_host_id');
    expect((hostIdOf(['a', 'b']) as Refusal).code).toBe('invalid_host_id');
    expect((hostIdOf('LAB') as Refusal).code).toBe('invalid_host_id');
  });
});

describe('parseArgs', () => {
  const base = ['--listen', '127.0.0.1:8443', '--store', '/s', '--ca', 'ca.pem', '--cert', 'c.pem', '--key', 'c.key'];

  it('reads every flag, in both --flag value and --flag=value forms', () => {
    const p = parseArgs([...base, '--token-file=/t', '--require-code-version', '--window-days', '7', '--max-bytes=1000']);
    expect(p).toEqual({
      mode: 'run',
      args: { host: '127.0.0.1', port: 8443, store: '/s', ca: 'ca.pem', cert: 'c.pem', key: 'c.key', tokenFile: '/t', requireCodeVersion: true, windowDays: 7, maxBytes: 1000 },
    });
  });

  it('lets --help and --version win over everything else', () => {
    expect(parseArgs(['--help'])).toEqual({ mode: 'help' });
    expect(parseArgs(['--version', '--listen', 'x'])).toEqual({ mode: 'version' });
  });

  it('reads IPv4, IPv6 and host names with port 0 allowed', () => {
    expect(parseListen('0.0.0.0:0')).toEqual({ host: '0.0.0.0', port: 0 });
    expect(parseListen('[::1]:8443')).toEqual({ host: '::1', port: 8443 });
    expect(parseListen('receiver.lab:443')).toEqual({ host: 'receiver.lab', port: 443 });
    for (const bad of ['8443', ':8443', '::1:8443', 'host:65536', 'host:-1', 'host:']) expect(() => parseListen(bad), bad).toThrow(/is not HOST:PORT/);
  });

  it('refuses unknown flags, stray arguments, missing values and flags given twice', () => {
    expect(() => parseArgs([...base, '--nope'])).toThrow(/unknown flag "--nope"/);
    expect(() => parseArgs([...base, 'stray'])).toThrow(/unexpected argument "stray"/);
    expect(() => parseArgs([...base, '--window-days'])).toThrow(/--window-days needs a value/);
    expect(() => parseArgs([...base, '--key', 'k2'])).toThrow(/--key is given twice/);
    expect(() => parseArgs([...base, '--help=yes'])).toThrow(/--help takes no value/);
    expect(() => parseArgs([...base, '--max-bytes', '0'])).toThrow(/at least 1/);
  });
});

describe('parseTokens', () => {
  it('takes one token a line, skipping blank lines and comments', () => {
    expect(parseTokens('# fleet A\nabc\r\n\n  def  \n#x\n')).toEqual(['abc', 'def']);
  });
});
