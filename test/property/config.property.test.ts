// Random mutations of a valid config file never crash the loader: each one is either a
// valid config or SHIP_CONFIG_INVALID (exit 78) whose message starts with the file and, for
// anything but a TOML syntax error, names a known key.

import fc from 'fast-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { KEYS, SECTIONS } from '../../src/config/schema.js';
import { ErrorCodes, exitCodeFor, isShipperError } from '../../src/errors.js';
import { makePki, type Pki } from '../helpers/pki.js';

let pki: Pki;
let dir: string;
let token: string;
const FILE = '/etc/shipper/lab-host.toml';
const KNOWN = new Set<string>([...KEYS.map((k) => k.key), ...SECTIONS]);

beforeAll(async () => {
  pki = await makePki();
  dir = await mkdtemp(join(tmpdir(), 'shipper-config-prop-'));
  token = join(dir, 'token');
  await writeFile(token, 'tok-123456\n', { mode: 0o600 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A valid file that sets every key, one `key = value` a line. */
function validLines(): string[] {
  return [
    'host_id = "lab-01"',
    '[paths]',
    `data_dir = "${dir}/data"`,
    '[receiver]',
    'url = "https://localhost:8443/prefix"',
    `ca = "${pki.ca.cert}"`,
    `cert = "${pki.client.cert}"`,
    `key = "${pki.client.key}"`,
    `token_file = "${token}"`,
    'server_name = "localhost"',
    'connect_timeout_s = 10',
    'idle_timeout_s = 60',
    '[ship]',
    'scan_interval_s = 5',
    'ready_marker = "meta.json"',
    'settle_s = 10',
    'zstd_level = 3',
    'concurrency = 2',
    'require_code_version = false',
    'max_episode_bytes = 0',
    'max_bytes_per_s = 0',
    '[retry]',
    'initial_s = 5',
    'max_s = 600',
    '[quarantine]',
    'keep_days = 30',
    'cleanup_interval_s = 3600',
    '[shipped]',
    'keep_days = 0',
    '[metrics]',
    `textfile = "${dir}/metrics.prom"`,
  ];
}

/** The dotted key a `key = value` line at `index` sets, or null. */
function keyAt(lines: string[], index: number): string | null {
  const m = /^([a-z_]+) = /.exec(lines[index] ?? '');
  if (!m) return null;
  let section = '';
  for (let i = index; i >= 0; i--) {
    const s = /^\[([a-z]+)\]$/.exec(lines[i]!);
    if (s) {
      section = s[1]!;
      break;
    }
  }
  return section ? `${section}.${m[1]}` : m[1]!;
}

/** A TOML value of any type, valid or not for the key it lands on. */
const tomlValue = fc.oneof(
  fc.integer({ min: -(2 ** 53), max: 2 ** 53 }).map(String),
  fc.double().map((d) => (Number.isNaN(d) ? 'nan' : d === Infinity ? 'inf' : d === -Infinity ? '-inf' : Number.isInteger(d) ? `${d}.0` : String(d))),
  fc.boolean().map(String),
  fc.string({ maxLength: 80 }).map((s) => JSON.stringify(s)),
  fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => JSON.stringify(s)),
  fc.constantFrom('"/"', '""', '"."', '".."', '"a/b"', '"http://x"', '"https://u:p@h:1"', '"https://h:1/?q=1"', '"https://"', '"-"', '"LAB"', '1979-05-27T07:32:00Z', '1979-05-27', '07:32:00'),
  fc.array(fc.integer(), { maxLength: 3 }).map((a) => `[${a.join(', ')}]`),
  fc.constantFrom('{ a = 1 }', '{}', '[[1], ["x"]]'),
);

type Mutation = (lines: string[]) => { lines: string[]; key: string | null };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // Replace the value of one key.
  fc.tuple(fc.nat(), tomlValue).map(([i, v]): Mutation => (lines) => {
    const keyLines = lines.map((l, j) => (keyAt(lines, j) ? j : -1)).filter((j) => j >= 0);
    const j = keyLines[i % keyLines.length]!;
    const out = [...lines];
    out[j] = `${lines[j]!.split(' = ')[0]} = ${v}`;
    return { lines: out, key: keyAt(lines, j) };
  }),
  // Delete, duplicate or move lines.
  fc.tuple(fc.nat(), fc.nat(), fc.constantFrom('delete', 'duplicate', 'swap')).map(([i, j, op]): Mutation => (lines) => {
    const out = [...lines];
    const a = i % out.length;
    const b = j % out.length;
    if (op === 'delete') out.splice(a, 1);
    else if (op === 'duplicate') out.splice(b, 0, out[a]!);
    else [out[a], out[b]] = [out[b]!, out[a]!];
    return { lines: out, key: null };
  }),
  // Misspell a key or a section.
  fc.tuple(fc.nat(), fc.string({ minLength: 1, maxLength: 3 })).map(([i, s]): Mutation => (lines) => {
    const out = [...lines];
    const a = i % out.length;
    out[a] = out[a]!.replace(/^(\[?)([a-z_]+)/, (_m, b: string, k: string) => `${b}${k.slice(0, -1)}${s}`);
    return { lines: out, key: null };
  }),
  // Insert raw bytes anywhere (they need not be UTF-8, TOML or even text).
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 12 })).map(([i, bytes]): Mutation => (lines) => {
    const text = lines.join('\n');
    const at = i % (text.length + 1);
    return { lines: (text.slice(0, at) + Buffer.from(bytes).toString('latin1') + text.slice(at)).split('\n'), key: null };
  }),
);

/** Keys whose value may be blamed on another key (a cross-key check). */
function blameable(changed: string, blamed: string): boolean {
  if (changed === blamed) return true;
  if (changed.startsWith('retry.') && blamed.startsWith('retry.')) return true;
  if (changed.startsWith('paths.') && blamed.startsWith('paths.')) return true;
  return false;
}

function checkFailure(err: unknown, file: string, changedKey: string | null): void {
  if (!isShipperError(err, ErrorCodes.CONFIG_INVALID)) throw err;
  expect(exitCodeFor(err)).toBe(78);
  expect(err.message.startsWith(`config ${file}: `), err.message).toBe(true);
  expect(err.details.file).toBe(file);
  const key = err.details.key;
  if (/TOML syntax error|cannot be parsed as TOML/.test(err.message)) return;
  expect(typeof key === 'string' && (KNOWN.has(key) || /unknown key/.test(err.message)), `${err.message} (key ${String(key)})`).toBe(true);
  expect(err.message).toContain(`: ${String(key)}: `);
  if (changedKey && typeof key === 'string' && KNOWN.has(key) && !/unknown key/.test(err.message)) {
    expect(blameable(changedKey, key), `changed ${changedKey}, blamed ${key}: ${err.message}`).toBe(true);
  }
}

describe('mutations of a valid config file', () => {
  it('the base file is valid', () => {
    expect(parseConfig(FILE, validLines().join('\n'), {}).hostId).toBe('lab-01');
  });

  it('parseConfig either accepts a mutated file or fails with SHIP_CONFIG_INVALID naming the file and the key', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        let lines = validLines();
        let key: string | null = null;
        for (const m of ms) {
          const r = m(lines);
          lines = r.lines;
          key = ms.length === 1 ? r.key : null;
        }
        try {
          parseConfig(FILE, lines.join('\n'), {});
        } catch (err) {
          checkFailure(err, FILE, key);
        }
      }),
      { numRuns: 600 },
    );
  });

  it('parseConfig never crashes on arbitrary text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1'))), (text) => {
        try {
          parseConfig(FILE, text, {});
        } catch (err) {
          checkFailure(err, FILE, null);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('loadConfig (file read, certificates, key, token) fails only with SHIP_CONFIG_INVALID naming the file and the key', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.option(mutation, { nil: null }),
        fc.constantFrom('receiver.ca', 'receiver.cert', 'receiver.key', 'receiver.token_file', null),
        fc.constantFrom('/nonexistent/x.pem', '/etc/hostname', dir, '/dev/null', '/proc/self/status'),
        async (m, pathKey, path) => {
          let { lines, key } = m ? m(validLines()) : { lines: validLines(), key: null as string | null };
          if (pathKey) {
            const leaf = pathKey.split('.')[1]!;
            lines = lines.map((l) => (l.startsWith(`${leaf} = `) ? `${leaf} = ${JSON.stringify(path)}` : l));
            // With one change the blame is exact; with two it may fall on either.
            key = m ? null : pathKey;
          }
          const file = join(dir, `c${n++}.toml`);
          await writeFile(file, lines.join('\n'));
          try {
            await loadConfig(file, { env: {} });
            expect(pathKey === null || m !== null, 'a bad path was accepted').toBe(true);
          } catch (err) {
            checkFailure(err, file, key);
          }
        },
      ),
      { numRuns: 120 },
    );
  });
});
