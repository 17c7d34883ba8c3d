// The unit files: what SPEC and docs/operations.md promise about them, read from the files
// themselves, and — where systemd-analyze is installed — `verify` silent and the offline
// security exposure at 2.0 or lower.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/world.js';

const run = promisify(execFile);
const UNITS = ['shipper.service', 'shipper-receiver.service'] as const;
const MAX_EXPOSURE = 2.0;

function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}
const analyze = findOnPath('systemd-analyze');
const NO_ANALYZE = 'systemd-analyze is not installed here (Debian: apt-get install systemd)';

/** `Key=value` lines of a unit file, in order (comments and blank lines dropped). */
function settings(text: string): [string, string][] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !l.startsWith(';') && !l.startsWith('['))
    .map((l) => {
      const i = l.indexOf('=');
      return [l.slice(0, i), l.slice(i + 1)] as [string, string];
    });
}

function values(text: string, key: string): string[] {
  return settings(text)
    .filter(([k]) => k === key)
    .map(([, v]) => v);
}

let tmp: string;
const texts = new Map<string, string>();

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'shipper-units-'));
  for (const u of UNITS) {
    const text = await readFile(join(ROOT, 'etc', u), 'utf8');
    texts.set(u, text);
    // verify checks that ExecStart's program exists: where node is not /usr/bin/node, check
    // a copy that runs this node instead. The unit's name must stay the file's name.
    const copy = existsSync('/usr/bin/node') ? text : text.replace(/^(Exec\w+=)\/usr\/bin\/node /gm, `$1${process.execPath} `);
    await writeFile(join(tmp, u), copy);
  }
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('etc/shipper.service', () => {
  const unit = () => texts.get('shipper.service')!;

  it('is a Type=notify service with the watchdog, restart policy and reload of SPEC', () => {
    expect(values(unit(), 'Type')).toEqual(['notify']);
    expect(values(unit(), 'NotifyAccess')).toEqual(['main']);
    expect(values(unit(), 'WatchdogSec')).toEqual(['180']);
    expect(values(unit(), 'Restart')).toEqual(['on-failure']);
    expect(values(unit(), 'RestartSec')).toHaveLength(1);
    expect(values(unit(), 'StartLimitIntervalSec')).toHaveLength(1);
    expect(values(unit(), 'StartLimitBurst')).toHaveLength(1);
    expect(values(unit(), 'RestartPreventExitStatus')).toEqual(['78']);
    expect(values(unit(), 'ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(unit()).toMatch(/^#Type=notify-reload$/m);
  });

  it('runs the installed code with the packaged config path, as the shipper user', () => {
    expect(values(unit(), 'ExecStart')).toEqual(['/usr/bin/node /opt/shipper/bin/shipper.js --config /etc/shipper/lab-host.toml']);
    expect(existsSync(join(ROOT, 'bin/shipper.js'))).toBe(true);
    expect(values(unit(), 'User')).toEqual(['shipper']);
    expect(values(unit(), 'StateDirectory')).toEqual(['shipper']);
    expect(values(unit(), 'ConfigurationDirectory')).toEqual(['shipper']);
    expect(values(unit(), 'ReadWritePaths')).toEqual(['/var/lib/shipper']);
    expect(unit()).toMatch(/^#LoadCredential=client\.key:/m);
    expect(unit()).toMatch(/^#LoadCredential=token:/m);
  });

  it('sandboxes node without breaking it: @pkey allowed, AF_UNIX kept, no W^X, no private network', () => {
    expect(values(unit(), 'SystemCallFilter')[0]!.split(/\s+/)).toEqual(expect.arrayContaining(['@system-service', '@pkey']));
    expect(values(unit(), 'RestrictAddressFamilies')).toEqual(['AF_UNIX AF_INET AF_INET6']);
    expect(values(unit(), 'MemoryDenyWriteExecute')).toEqual([]);
    expect(values(unit(), 'PrivateNetwork')).toEqual([]);
    expect(values(unit(), 'CapabilityBoundingSet')).toEqual(['']);
    for (const key of ['ProtectSystem', 'NoNewPrivileges', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'ProtectKernelTunables', 'ProtectControlGroups', 'RestrictNamespaces', 'LockPersonality']) {
      expect(values(unit(), key), key).toHaveLength(1);
    }
    expect(values(unit(), 'ProtectSystem')).toEqual(['strict']);
    expect(values(unit(), 'UMask')).toEqual(['0027']);
  });
});

// glibc ignores a tunable it does not know, or a value out of range, without a word: the
// dynamic loader itself is asked what it made of the unit's GLIBC_TUNABLES.
const LOADERS = ['/lib64/ld-linux-x86-64.so.2', '/lib/ld-linux-aarch64.so.1'];
const loader = LOADERS.find((p) => existsSync(p)) ?? null;

describe('etc/shipper.service: malloc tunables', () => {
  it.skipIf(loader === null)(`sets GLIBC_TUNABLES that this glibc takes, with the values given${loader ? '' : ' (skipped: no glibc loader at ' + LOADERS.join(' or ') + ')'}`, async () => {
    const env = values(texts.get('shipper.service')!, 'Environment').filter((v) => v.startsWith('GLIBC_TUNABLES='));
    expect(env).toHaveLength(1);
    const tunables = env[0]!.slice('GLIBC_TUNABLES='.length);
    const wanted = tunables.split(':').map((kv) => kv.split('=') as [string, string]);
    expect(wanted.map(([k]) => k)).toEqual(['glibc.malloc.mmap_threshold', 'glibc.malloc.trim_threshold']);
    const { stdout } = await run(loader!, ['--list-tunables'], { env: { GLIBC_TUNABLES: tunables } });
    for (const [key, value] of wanted) {
      expect(stdout, key).toContain(`${key}: 0x${Number(value).toString(16)} `);
    }
  });
});

describe('etc/shipper-receiver.service', () => {
  it('runs shipper-receiver as its own user with its store, its flags from an EnvironmentFile', () => {
    const unit = texts.get('shipper-receiver.service')!;
    expect(values(unit, 'Type')).toEqual(['exec']);
    expect(values(unit, 'User')).toEqual(['shipper-receiver']);
    expect(values(unit, 'EnvironmentFile')).toEqual(['/etc/shipper-receiver/receiver.env']);
    const exec = values(unit, 'ExecStart')[0]!;
    expect(exec).toMatch(/^\/usr\/bin\/node \/opt\/shipper\/bin\/shipper-receiver\.js --listen \$\{LISTEN\} --store \/var\/lib\/shipper-receiver /);
    expect(existsSync(join(ROOT, 'bin/shipper-receiver.js'))).toBe(true);
    expect(existsSync(join(ROOT, 'etc/shipper-receiver.env.example'))).toBe(true);
    expect(values(unit, 'SystemCallFilter')[0]).toMatch(/@pkey/);
    expect(values(unit, 'MemoryDenyWriteExecute')).toEqual([]);
  });
});

describe('systemd-analyze', () => {
  it.skipIf(!analyze)(`verify has nothing to say about either unit (skipped when ${NO_ANALYZE})`, async () => {
    for (const u of UNITS) {
      const { stdout, stderr } = await run(analyze!, ['verify', '--man=no', join(tmp, u)]).catch((err: { stdout: string; stderr: string }) => err);
      expect(`${stdout}${stderr}`.trim(), u).toBe('');
    }
  });

  it.skipIf(!analyze)(`security --offline=true rates both units at ${MAX_EXPOSURE} or lower (skipped when ${NO_ANALYZE})`, async () => {
    for (const u of UNITS) {
      const { stdout } = await run(analyze!, ['security', '--offline=true', '--no-pager', join(tmp, u)]);
      const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(stdout);
      expect(m, `${u}: no exposure line in:\n${stdout}`).not.toBeNull();
      expect(Number(m![1]), u).toBeLessThanOrEqual(MAX_EXPOSURE);
    }
  });
});
