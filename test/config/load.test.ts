import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig, configPath } from '../../src/config/load.js';
import { KEYS } from '../../src/config/schema.js';
import { isShipperError, exitCodeFor } from '../../src/errors.js';
import { makePki, type Pki } from '../helpers/pki.js';

let pki: Pki;
let dir: string;

beforeAll(async () => {
  pki = await makePki();
  dir = await mkdtemp(join(tmpdir(), 'shipper-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function base(extra = ''): string {
  return `host_id = "lab-01"
[receiver]
url = "https://localhost:8443"
ca = "${pki.ca.cert}"
cert = "${pki.client.cert}"
key = "${pki.client.key}"
${extra}`;
}

let n = 0;
async function writeConfig(text: string): Promise<string> {
  const file = join(dir, `c${n++}.toml`);
  await writeFile(file, text);
  return file;
}

async function failure(text: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const file = await writeConfig(text);
  try {
    await loadConfig(file, { env });
  } catch (err) {
    expect(isShipperError(err, 'SHIP_CONFIG_INVALID')).toBe(true);
    expect(exitCodeFor(err)).toBe(78);
    return (err as Error).message.replace(file, 'FILE');
  }
  throw new Error('the config loaded, but it should have failed');
}

describe('a valid config', () => {
  it('loads with every default filled in and frozen', async () => {
    const file = await writeConfig(base());
    const { config, tls } = await loadConfig(file, { env: {} });
    expect(config.hostId).toBe('lab-01');
    expect(config.paths.episodes).toBe('/var/lib/shipper/episodes');
    expect(config.ship).toEqual({
      scanIntervalMs: 5000,
      readyMarker: 'meta.json',
      settleMs: 10000,
      zstdLevel: 3,
      concurrency: 2,
      requireCodeVersion: false,
      maxEpisodeBytes: 0,
      maxBytesPerS: 0,
    });
    expect(config.retry).toEqual({ initialMs: 5000, maxMs: 600000 });
    expect(config.quarantine).toEqual({ keepDays: 30, cleanupIntervalMs: 3600000 });
    expect(config.receiver.connectTimeoutMs).toBe(10000);
    expect(config.receiver.idleTimeoutMs).toBe(60000);
    expect(tls.token).toBeNull();
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.ship)).toBe(true);
  });

  it('resolves relative paths against the folder of the config file', async () => {
    const text = `host_id = "lab-01"
[paths]
data_dir = "data"
quarantine = "q"
[receiver]
url = "https://localhost:8443/prefix/"
ca = "${pki.ca.cert}"
cert = "${pki.client.cert}"
key = "${pki.client.key}"
`;
    const file = await writeConfig(text);
    const { config } = await loadConfig(file, { env: {} });
    expect(config.paths.dataDir).toBe(join(dir, 'data'));
    expect(config.paths.episodes).toBe(join(dir, 'data', 'episodes'));
    expect(config.paths.quarantine).toBe(join(dir, 'q'));
    expect(config.receiver.url).toBe('https://localhost:8443/prefix');
  });

  it('takes the key and the token from $CREDENTIALS_DIRECTORY over the file paths', async () => {
    const creds = await mkdtemp(join(tmpdir(), 'shipper-creds-'));
    try {
      await writeFile(join(creds, 'client.key'), pki.client.keyPem, { mode: 0o600 });
      await writeFile(join(creds, 'token'), 'from-credentials\n', { mode: 0o600 });
      const file = await writeConfig(base().replace(`key = "${pki.client.key}"`, 'key = "/nonexistent/client.key"'));
      const { config, tls } = await loadConfig(file, { env: { CREDENTIALS_DIRECTORY: creds } });
      expect(config.receiver.key).toBe(join(creds, 'client.key'));
      expect(config.receiver.keyFromCredentials).toBe(true);
      expect(config.receiver.tokenFromCredentials).toBe(true);
      expect(tls.token).toBe('from-credentials');
    } finally {
      await rm(creds, { recursive: true, force: true });
    }
  });

  it('reads the token from token_file and trims the newline', async () => {
    const token = join(dir, 'token-ok');
    await writeFile(token, 's3cret-token\n', { mode: 0o600 });
    const { tls } = await loadConfig(await writeConfig(base(`token_file = "${token}"`)), { env: {} });
    expect(tls.token).toBe('s3cret-token');
  });
});

describe('a bad config is exit 78 with a message naming the file, the key and the fix', () => {
  const cases: [string, () => string | Promise<string>, RegExp][] = [
    ['a TOML syntax error, with line and column', () => 'host_id = "lab-01"\n[receiver\nurl = 1\n', /^config FILE: TOML syntax error at line 2, column \d+: .*; fix the syntax/],
    ['an unknown top-level key with a near miss', () => base().replace('host_id', 'hostid'), /config FILE: hostid: unknown key; did you mean host_id\?/],
    ['a known key in the wrong table', () => base('scan_interval_s = 3'), /config FILE: receiver.scan_interval_s: unknown key; did you mean ship.scan_interval_s\?/],
    ['a typo inside a table', () => base('[ship]\nsettel_s = 3'), /config FILE: ship.settel_s: unknown key; did you mean ship.settle_s\?/],
    ['an unknown key with no near miss', () => base('[ship]\nbanana = 3'), /config FILE: ship.banana: unknown key; the known keys are listed in lab-host.toml.example/],
    ['a missing required key', () => base().replace(/^host_id.*$/m, ''), /config FILE: host_id: is required; add it/],
    ['a missing receiver.url', () => base().replace(/^url.*$/m, ''), /config FILE: receiver.url: is required/],
    ['a wrong type', () => base('[ship]\nconcurrency = "two"'), /config FILE: ship.concurrency: must be an integer, not a string/],
    ['a float where an integer belongs', () => base('[ship]\nzstd_level = 3.5'), /config FILE: ship.zstd_level: must be an integer, not a float/],
    ['a value out of range', () => base('[ship]\nzstd_level = 22'), /config FILE: ship.zstd_level: 22 is out of range; use a value from 1 to 19/],
    ['a zero interval', () => base('[ship]\nscan_interval_s = 0'), /config FILE: ship.scan_interval_s: 0 is out of range; use a value greater than 0/],
    ['a negative size', () => base('[ship]\nmax_episode_bytes = -1'), /ship.max_episode_bytes: -1 is out of range/],
    ['retry.max_s below retry.initial_s', () => base('[retry]\ninitial_s = 60\nmax_s = 10'), /retry.max_s: 10 is smaller than retry.initial_s \(60\)/],
    ['a host_id that does not match its pattern', () => base().replace('"lab-01"', '"Lab 01"'), /host_id: "Lab 01" does not match \[a-z0-9\]\[a-z0-9._-\]\{0,62\}/],
    ['a url that is not https', () => base().replace('https://localhost:8443', 'http://localhost:8443'), /receiver.url: must use https, not http/],
    ['a url with a password, never echoed', () => base().replace('https://localhost:8443', 'https://user:hunter2@localhost:8443'), /receiver.url: must not carry a user name or password/],
    ['a url with a query', () => base().replace('https://localhost:8443', 'https://localhost:8443/?x=1'), /receiver.url: must not have a query/],
    ['a url that is not a url', () => base().replace('https://localhost:8443', '://receiver:8443'), /receiver.url: is not a URL/],
    ['a ready marker with a slash', () => base('[ship]\nready_marker = "a/b"'), /ship.ready_marker: "a\/b" is not a plain file name/],
    ['a section that is not a table', () => `ship = 3\n${base()}`, /config FILE: ship: must be a table/],
    ['two folders on the same path', () => base('[paths]\nshipped = "/x/a"\nquarantine = "/x/a"'), /paths.quarantine: is the same folder as paths.shipped/],
    ['a missing CA file', () => base().replace(pki.ca.cert, '/nonexistent/ca.pem'), /receiver.ca: file \/nonexistent\/ca.pem does not exist; check the path/],
    ['a CA that is not PEM', async () => {
      const bad = join(dir, 'not-a-cert.pem');
      await writeFile(bad, 'hello');
      return base().replace(pki.ca.cert, bad);
    }, /receiver.ca: .*not-a-cert.pem is not a PEM certificate/],
    ['a key readable by others', async () => {
      const loose = join(dir, 'loose.key');
      await writeFile(loose, pki.client.keyPem);
      await chmod(loose, 0o644);
      return base().replace(pki.client.key, loose);
    }, /receiver.key: .*loose.key is accessible by group or others \(mode 0644\); run chmod 600 .*loose.key/],
    ['a key that belongs to another certificate', () => base().replace(pki.client.key, pki.otherClient.key), /receiver.key: .* does not belong to the certificate/],
    ['an expired client certificate', () => base().replace(pki.client.cert, pki.expiredClient.cert).replace(pki.client.key, pki.expiredClient.key), /receiver.cert: .* expired on 2020-.*; renew the client certificate/],
    ['a client certificate that is not valid yet', () => base().replace(pki.client.cert, pki.notYetValidClient.cert).replace(pki.client.key, pki.notYetValidClient.key), /receiver.cert: .* is not valid before 2099-.*; check this host's clock/],
    ['a folder where a certificate belongs', () => base().replace(pki.client.cert, dir), /receiver.cert: .* is not a regular file/],
    ['an empty token file', async () => {
      const t = join(dir, 'empty-token');
      await writeFile(t, '\n', { mode: 0o600 });
      return base(`token_file = "${t}"`);
    }, /receiver.token_file: .*empty-token is empty; write the bearer token into it/],
    ['a token file readable by others', async () => {
      const t = join(dir, 'loose-token');
      await writeFile(t, 'abc123\n');
      await chmod(t, 0o644);
      return base(`token_file = "${t}"`);
    }, /receiver.token_file: .*loose-token is accessible by group or others/],
  ];
  for (const [title, make, expected] of cases) {
    it(title, async () => {
      const message = await failure(await make());
      expect(message).toMatch(expected);
      expect(message).not.toContain('hunter2');
      // No key material: the first base64 line of any key of the PKI.
      for (const k of [pki.client.keyPem, pki.otherClient.keyPem, pki.expiredClient.keyPem]) {
        expect(message).not.toContain(k.toString().split('\n')[1]!);
      }
    });
  }

  it('names a missing config file and how to point at one', async () => {
    try {
      await loadConfig(join(dir, 'nope.toml'));
      throw new Error('loaded');
    } catch (err) {
      expect(exitCodeFor(err)).toBe(78);
      expect((err as Error).message).toMatch(/nope.toml: cannot read the file \(ENOENT\); create it from lab-host.toml.example, or pass --config PATH/);
    }
  });

  it('never echoes a TOML line that could hold a secret', async () => {
    const message = await failure('host_id = "lab-01"\ntoken = "very-secret-value\n');
    expect(message).not.toContain('very-secret-value');
  });
});

describe('the config path', () => {
  it('is --config, else $SHIPPER_CONFIG, else /etc/shipper/lab-host.toml', () => {
    expect(configPath('/a.toml', { SHIPPER_CONFIG: '/b.toml' })).toBe('/a.toml');
    expect(configPath(undefined, { SHIPPER_CONFIG: '/b.toml' })).toBe('/b.toml');
    expect(configPath(undefined, {})).toBe('/etc/shipper/lab-host.toml');
  });
});

describe('lab-host.toml.example', () => {
  it('parses, and documents every key of the schema with its default', async () => {
    const text = await readFile(new URL('../../lab-host.toml.example', import.meta.url), 'utf8');
    const config = parseConfig('/etc/shipper/lab-host.toml', text, {});
    expect(config.hostId).toBe('lab-01');
    for (const spec of KEYS) {
      const leaf = spec.key.split('.').pop()!;
      const section = spec.key.includes('.') ? spec.key.split('.')[0]! : null;
      const re = new RegExp(`^#? ?${leaf} = `, 'm');
      expect(re.test(text), `${spec.key} is documented`).toBe(true);
      if (section) expect(text).toContain(`[${section}]`);
      if (spec.default !== undefined && spec.default !== null && typeof spec.default !== 'string') {
        expect(text, `${spec.key} shows its default`).toMatch(new RegExp(`^${leaf} = ${String(spec.default)}$`, 'm'));
      }
    }
  });

  it('is the defaults: loading it gives the same values as an empty optional part', () => {
    const text = `host_id = "lab-01"\n[receiver]\nurl = "https://receiver.example.org:8443"\nca = "/etc/shipper/ca.pem"\ncert = "/etc/shipper/client.pem"\nkey = "/etc/shipper/client.key"\n`;
    return readFile(new URL('../../lab-host.toml.example', import.meta.url), 'utf8').then((example) => {
      expect(parseConfig('/etc/shipper/lab-host.toml', example, {})).toEqual(parseConfig('/etc/shipper/lab-host.toml', text, {}));
    });
  });
});
