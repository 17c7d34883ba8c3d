#!/usr/bin/env node
// `npm run demo`: the whole path on one machine, with the commands an operator would type.
// Makes a throwaway PKI, starts the reference receiver on a free loopback port, writes a
// config and a few sample episodes into a temp folder, checks the config, pings, ships
// with `shipper --once`, shows where everything went, and stops what it started.
// `npm run demo -- --keep` leaves the temp folder for a look around.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { makeBasicPki } from './lib/pki.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const keep = process.argv.includes('--keep');
const shipperBin = join(root, 'bin/shipper.js');
const receiverBin = join(root, 'bin/shipper-receiver.js');

if (!existsSync(join(root, 'dist/cli/main.js'))) {
  console.error('demo: dist/ is missing; run `npm ci` (it builds), or `npm run build`');
  process.exit(1);
}

const say = (s = '') => console.log(s);
const step = (s) => say(`\n== ${s}`);

function shipper(args, cwd) {
  say(`$ shipper ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [shipperBin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, SHIPPER_LOG_LEVEL: 'info' } });
  const out = (r.stdout + r.stderr).trimEnd();
  if (out) say(out.replace(/^/gm, '  '));
  say(`  (exit ${r.status})`);
  return r.status;
}

async function tree(dir, base = dir, depth = 0) {
  const lines = [];
  const names = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  for (const d of names) {
    lines.push(`${'  '.repeat(depth + 1)}${d.name}${d.isDirectory() ? '/' : ''}`);
    if (d.isDirectory() && depth < 1) lines.push(...(await tree(join(dir, d.name), base, depth + 1)));
  }
  return lines;
}

async function episode(episodes, id, files, meta) {
  const dir = join(episodes, id);
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  // meta.json last: it is the ready marker.
  const marker = join(dir, 'meta.json');
  await writeFile(marker, typeof meta === 'string' ? meta : JSON.stringify(meta, null, 2));
  const past = new Date(Date.now() - 60_000);
  await utimes(marker, past, past);
}

const work = await mkdtemp(join(tmpdir(), 'shipper-demo-'));
let receiver = null;
let code = 0;
try {
  step('a throwaway PKI (openssl): CA, receiver certificate, client certificate for host lab-01');
  const pki = await makeBasicPki(await mkdir(join(work, 'pki'), { recursive: true }).then(() => join(work, 'pki')));
  say(`  ${relative(work, pki.ca.cert)}  ${relative(work, pki.server.cert)}  ${relative(work, pki.client.cert)}`);

  step('the reference receiver on a free loopback port, requiring client certificates');
  const store = join(work, 'receiver-store');
  await mkdir(store);
  receiver = spawn(process.execPath, [receiverBin, '--listen', '127.0.0.1:0', '--store', store, '--ca', pki.ca.cert, '--cert', pki.server.cert, '--key', pki.server.key, '--window-days', '30'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('the receiver did not start within 10 s:\n' + buf)), 10_000);
    receiver.stderr.setEncoding('utf8');
    receiver.stderr.on('data', (d) => {
      buf += d;
      const m = /event=receiver_listening url=(\S+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    receiver.on('exit', (c) => reject(new Error(`the receiver exited with ${c}:\n${buf}`)));
  });
  say(`$ shipper-receiver --listen 127.0.0.1:0 --store receiver-store --ca pki/ca.pem --cert pki/server.pem --key pki/server.key --window-days 30`);
  say(`  listening on ${url}`);

  step('a config and four sample episodes');
  const data = join(work, 'data');
  const episodes = join(data, 'episodes');
  await mkdir(episodes, { recursive: true });
  const config = join(work, 'lab-host.toml');
  await writeFile(
    config,
    `host_id = "lab-01"\n\n[paths]\ndata_dir = "data"\n\n[receiver]\nurl = "${url}"\nca = "pki/ca.pem"\ncert = "pki/client.pem"\nkey = "pki/client.key"\n\n[ship]\nsettle_s = 1\n`,
  );
  const commit = 'c0ffee0000000000000000000000000000c0ffee';
  const now = Date.now();
  for (let i = 1; i <= 3; i++) {
    const id = `ep-2026-11-22-000${i}`;
    const rows = Array.from({ length: 5000 }, (_, k) => JSON.stringify({ t: now / 1000 + k * 0.01, imu: [Math.sin(k), Math.cos(k), k % 7], temp_c: 21 + (k % 13) / 10 }));
    await episode(
      episodes,
      id,
      { 'telemetry/imu.jsonl': rows.join('\n') + '\n', 'logs/recorder.log': `episode ${id} recorded\n`, 'sensors/camera/frames.idx': '0 0\n1 4096\n' },
      { episode_id: id, started_at: new Date(now - 600_000).toISOString(), ended_at: new Date(now - 300_000).toISOString(), code_version: { commit, dirty: false } },
    );
  }
  await episode(episodes, 'ep-broken-meta', { 'data.bin': 'x' }, '{"episode_id": "ep-broken-meta", ');
  say((await tree(episodes)).join('\n'));

  step('check the config (secrets are never printed)');
  shipper(['check-config', '--config', config], work);

  step('smoke test: the same TLS, certificates and headers as an upload');
  if (shipper(['--ping', '--config', config], work) !== 0) throw new Error('ping failed');

  step('one pass: pack (tar + zstd), upload over mutual TLS, retire or quarantine');
  code = shipper(['--once', '--config', config], work);

  step('where everything went');
  for (const f of ['episodes', 'shipped', 'quarantine', 'outbox']) {
    const names = existsSync(join(data, f)) ? await readdir(join(data, f)) : [];
    say(`  ${f}/: ${names.length ? names.sort().join(', ') : '(empty)'}`);
  }
  const held = (await readdir(join(store, 'lab-01'))).sort();
  say(`  receiver-store/lab-01/: ${held.join(', ')}`);
  say(`  quarantine reason: data/quarantine/ep-broken-meta/quarantine_reason.json`);

  step('the receiver copy extracts with the standard tools');
  const first = join(store, 'lab-01', held[0]);
  say(`$ zstd -dc receiver-store/lab-01/${held[0]} | tar -tv`);
  const z = spawnSync('zstd', ['-dc', first]);
  const t = spawnSync('tar', ['-tv'], { input: z.stdout, encoding: 'utf8' });
  say(t.stdout.trimEnd().replace(/^/gm, '  '));

  if (existsSync(join(root, 'dist/cli/status.js'))) {
    step('the queue at a glance');
    shipper(['status', '--config', config], work);
  }
  say(`\ndemo ${code === 0 ? 'done' : `finished with exit ${code}`}${keep ? `; everything is in ${work}` : ''}`);
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  code = 1;
} finally {
  if (receiver && receiver.exitCode === null) {
    receiver.kill('SIGTERM');
    await new Promise((r) => receiver.once('exit', r));
  }
  if (!keep) await rm(work, { recursive: true, force: true });
}
process.exit(code);
