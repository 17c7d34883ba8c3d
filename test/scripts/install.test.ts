// The install scripts, run for real into a throwaway DESTDIR root: what they create, that a
// second run converges to the same tree, that a real config is never overwritten, that
// --dry-run changes nothing, and that a real install refuses to run without root.
//
// They run from a small copy of the checkout (the scripts, etc/, bin/, the package files
// and a stand-in dist/ and node_modules/) with --no-npm, so no network and no build is
// needed; the npm build itself is exercised in the systemd sandbox (docs/operations.md).

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, cp, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/world.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

let base: string;
let checkout: string;
let rootCount = 0;

/** A fresh, empty throwaway root. */
async function newRoot(): Promise<string> {
  const r = join(base, `root-${++rootCount}`);
  await mkdir(r);
  return r;
}

function labHost(root: string, ...args: string[]): Promise<Run> {
  return sh('bash', [join(checkout, 'scripts/install-lab-host.sh'), '--no-npm', ...args], { DESTDIR: root });
}

function receiver(root: string, ...args: string[]): Promise<Run> {
  return sh('bash', [join(checkout, 'scripts/install-receiver.sh'), '--no-npm', ...args], { DESTDIR: root });
}

/** Every path under `dir` with its type, mode and content hash: equal trees, equal maps. */
async function snapshot(dir: string, skip: (rel: string) => boolean = () => false): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(d: string): Promise<void> {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      const rel = relative(dir, p);
      if (skip(rel)) continue;
      const st = await lstat(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.set(rel, `dir ${mode}`);
        await walk(p);
      } else if (st.isSymbolicLink()) {
        out.set(rel, `link ${await readlink(p)}`);
      } else {
        out.set(rel, `file ${mode} ${createHash('sha256').update(await readFile(p)).digest('hex')}`);
      }
    }
  }
  await walk(dir);
  return out;
}

async function modeOf(path: string): Promise<string> {
  return ((await lstat(path)).mode & 0o7777).toString(8).padStart(4, '0');
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'shipper-install-'));
  // Readable by anyone: the non-root test runs the script as nobody.
  await chmod(base, 0o755);
  checkout = join(base, 'checkout');
  for (const item of ['scripts', 'etc', 'bin', 'package.json', 'lab-host.toml.example']) {
    await cp(join(ROOT, item), join(checkout, item), { recursive: true });
  }
  await mkdir(join(checkout, 'dist/cli'), { recursive: true });
  await writeFile(join(checkout, 'dist/cli/main.js'), '// stand-in for the built CLI\n');
  await mkdir(join(checkout, 'node_modules'), { recursive: true });
  await writeFile(join(checkout, 'node_modules/.package-lock.json'), '{}\n');
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('install-lab-host.sh in a DESTDIR root', () => {
  it('installs the code, the unit, the config from the example and the data folders with their modes', async () => {
    const root = await newRoot();
    const r = await labHost(root);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(existsSync(join(root, 'opt/shipper/bin/shipper.js'))).toBe(true);
    expect(existsSync(join(root, 'opt/shipper/dist/cli/main.js'))).toBe(true);
    expect(existsSync(join(root, 'opt/shipper.new'))).toBe(false);
    expect(await readlink(join(root, 'usr/local/bin/shipper'))).toBe('/opt/shipper/bin/shipper.js');

    const unit = await readFile(join(root, 'etc/systemd/system/shipper.service'), 'utf8');
    const shipped = await readFile(join(ROOT, 'etc/shipper.service'), 'utf8');
    if (existsSync('/usr/bin/node')) expect(unit).toBe(shipped);
    else expect(unit).toMatch(/^ExecStart=\S+ \/opt\/shipper\/bin\/shipper\.js --config \/etc\/shipper\/lab-host\.toml$/m);
    expect(await modeOf(join(root, 'etc/systemd/system/shipper.service'))).toBe('0644');

    const config = join(root, 'etc/shipper/lab-host.toml');
    expect(await readFile(config, 'utf8')).toBe(await readFile(join(ROOT, 'lab-host.toml.example'), 'utf8'));
    expect(await modeOf(config)).toBe('0640');

    const data = join(root, 'var/lib/shipper');
    expect(await modeOf(data)).toBe('0751');
    expect(await modeOf(join(data, 'episodes'))).toBe('2770');
    for (const d of ['outbox', 'shipped', 'quarantine', 'state']) expect(await modeOf(join(data, d)), d).toBe('0750');

    // Every step is printed, and what was not done to the live system says so.
    expect(r.stdout).toMatch(/==> \[1\] check Node\.js/);
    expect(r.stdout).toMatch(/skipped \(DESTDIR\): useradd --system .* shipper$/m);
    expect(r.stdout).toMatch(/skipped \(DESTDIR\): chown shipper:shipper \S+\/var\/lib\/shipper$/m);
    expect(r.stdout).toMatch(/skipped \(DESTDIR\): systemctl daemon-reload/);
    expect(r.stdout).not.toMatch(/\+ systemctl/);
  });

  it('converges: a second run changes nothing; changed code is swapped in, the old kept as .prev', async () => {
    const root = await newRoot();
    expect((await labHost(root)).code).toBe(0);
    const first = await snapshot(root);
    const second = await labHost(root);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/unchanged: \S+\/opt\/shipper already holds this code/);
    expect(second.stdout).toMatch(/==> \[\d+\] unit \S+\/shipper\.service\n\s+unchanged\n/);
    expect(await snapshot(root)).toEqual(first);

    // New code (an upgrade): built beside, swapped in, the previous tree kept for a rollback.
    const marker = join(checkout, 'dist/cli/main.js');
    const old = await readFile(marker, 'utf8');
    await writeFile(marker, old + '// upgraded\n');
    try {
      const third = await labHost(root);
      expect(third.code).toBe(0);
      expect(await readFile(join(root, 'opt/shipper/dist/cli/main.js'), 'utf8')).toMatch(/upgraded/);
      expect(await readFile(join(root, 'opt/shipper.prev/dist/cli/main.js'), 'utf8')).toBe(old);
      const after = await snapshot(root, (rel) => rel.startsWith('opt/'));
      expect(after).toEqual(new Map([...first].filter(([rel]) => !rel.startsWith('opt/'))));
    } finally {
      await writeFile(marker, old);
    }
  });

  it('never overwrites an existing config', async () => {
    const root = await newRoot();
    const config = join(root, 'etc/shipper/lab-host.toml');
    await mkdir(join(root, 'etc/shipper'), { recursive: true });
    const mine = 'host_id = "lab-07"\n# the operator\'s real config\n';
    await writeFile(config, mine, { mode: 0o600 });
    const r = await labHost(root);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/exists; kept as it is \(never overwritten\)/);
    expect(await readFile(config, 'utf8')).toBe(mine);
    expect(await modeOf(config)).toBe('0600');
  });

  it('leaves a /usr/local/bin/shipper that is not its own link alone', async () => {
    const root = await newRoot();
    await mkdir(join(root, 'usr/local/bin'), { recursive: true });
    await writeFile(join(root, 'usr/local/bin/shipper'), '#!/bin/sh\necho a wrapper of the site\n');
    const r = await labHost(root);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/exists and is not this install's link: left alone/);
    expect(await readFile(join(root, 'usr/local/bin/shipper'), 'utf8')).toMatch(/wrapper of the site/);
  });

  it('--dry-run prints the steps and changes nothing, on an empty root and on an installed one', async () => {
    const empty = await newRoot();
    const dry = await labHost(empty, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/dry run: nothing is changed/);
    expect(dry.stdout).toMatch(/would run: install -d -m 2770 \S+\/var\/lib\/shipper\/episodes/);
    expect(dry.stdout).toMatch(/would install \S+shipper\.service as \S+\/etc\/systemd\/system\/shipper\.service/);
    expect(await readdir(empty)).toEqual([]);

    const installed = await newRoot();
    expect((await labHost(installed)).code).toBe(0);
    await rm(join(installed, 'etc/shipper/lab-host.toml'));
    const before = await snapshot(installed);
    const again = await labHost(installed, '--dry-run', '--recorder-group', 'telemetry');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/would write drop-in/);
    expect(await snapshot(installed)).toEqual(before);
  });

  it('--recorder-group writes the SupplementaryGroups= drop-in, and later runs remember it', async () => {
    const root = await newRoot();
    expect((await labHost(root, '--recorder-group', 'telemetry')).code).toBe(0);
    const dropin = join(root, 'etc/systemd/system/shipper.service.d/50-install-recorder-group.conf');
    expect(await readFile(dropin, 'utf8')).toMatch(/^\[Service\]\nSupplementaryGroups=telemetry$/m);
    expect((await labHost(root)).stdout).toMatch(/recorder group from the previous run: telemetry/);
    expect(await readFile(dropin, 'utf8')).toMatch(/^SupplementaryGroups=telemetry$/m);
    expect((await labHost(root, '--recorder-group', 'bad group!')).code).not.toBe(0);
  });

  it('runs from the installed /opt/shipper itself without copying onto itself', async () => {
    const root = await newRoot();
    expect((await labHost(root)).code).toBe(0);
    const r = await sh('bash', [join(root, 'opt/shipper/scripts/install-lab-host.sh'), '--no-npm'], { DESTDIR: root });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`installing from ${root}/opt/shipper`);
    expect(existsSync(join(root, 'opt/shipper/bin/shipper.js'))).toBe(true);
    expect(existsSync(join(root, 'opt/shipper/dist/cli/main.js'))).toBe(true);
    expect(existsSync(join(root, 'opt/shipper.new'))).toBe(false);
  });

  it('rejects an unknown argument with exit 2', async () => {
    const r = await labHost(await newRoot(), '--frobnicate');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown argument '--frobnicate'/);
  });
});

describe('install-receiver.sh in a DESTDIR root', () => {
  it('installs its unit, the flags file from the example (never overwritten) and the store, and converges', async () => {
    const root = await newRoot();
    const r = await receiver(root);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await readlink(join(root, 'usr/local/bin/shipper-receiver'))).toBe('/opt/shipper/bin/shipper-receiver.js');
    const unit = await readFile(join(root, 'etc/systemd/system/shipper-receiver.service'), 'utf8');
    expect(unit).toMatch(/^User=shipper-receiver$/m);
    const env = join(root, 'etc/shipper-receiver/receiver.env');
    expect(await readFile(env, 'utf8')).toBe(await readFile(join(ROOT, 'etc/shipper-receiver.env.example'), 'utf8'));
    expect(await modeOf(join(root, 'var/lib/shipper-receiver'))).toBe('0750');
    expect(r.stdout).toMatch(/skipped \(DESTDIR\): useradd .* shipper-receiver$/m);
    expect(r.stdout).toMatch(/still missing: \/etc\/shipper-receiver\/server\.key/);

    await writeFile(env, 'LISTEN=127.0.0.1:9443\nRECEIVER_OPTS=--window-days 7\n');
    const again = await receiver(root);
    expect(again.code).toBe(0);
    const snap = await snapshot(root);
    expect(await readFile(env, 'utf8')).toBe('LISTEN=127.0.0.1:9443\nRECEIVER_OPTS=--window-days 7\n');
    expect((await receiver(root)).code).toBe(0);
    expect(await snapshot(root)).toEqual(snap);

    const dry = await receiver(await newRoot(), '--dry-run');
    expect(dry.code).toBe(0);
  });
});

describe('without root', () => {
  const uid = process.getuid?.() ?? 0;
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

  it.skipIf(uid === 0 && !setpriv)('a real install (no DESTDIR) refuses to run, and changes nothing (skipped as root without setpriv)', async () => {
    for (const script of ['install-lab-host.sh', 'install-receiver.sh']) {
      const path = join(checkout, 'scripts', script);
      const r = uid === 0 ? await sh(setpriv!, ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', path]) : await sh('bash', [path]);
      expect(r.code, script).toBe(1);
      expect(r.stderr, script).toMatch(/must run as root/);
      expect(r.stdout, script).toBe('');
    }
  });

  it.skipIf(uid === 0 && !setpriv)('a DESTDIR install works for an ordinary user (skipped as root without setpriv)', async () => {
    const root = await newRoot();
    await chmod(root, 0o777);
    const path = join(checkout, 'scripts/install-lab-host.sh');
    const r =
      uid === 0
        ? await sh(setpriv!, ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', path, '--no-npm'], { DESTDIR: root })
        : await sh('bash', [path, '--no-npm'], { DESTDIR: root });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await modeOf(join(root, 'var/lib/shipper/episodes'))).toBe('2770');
  });
});
