// No secret leaves the process: the bearer token and the client key never appear in
// anything the shipper writes — stdout, stderr, state/, quarantine reason files, the
// metrics file — whatever the receiver answers, including a receiver (or a proxy) that
// echoes the request's Authorization header back in its answers. And secrets that other
// users could read are refused at start.

import { chmod, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scriptedReceiver, type ScriptedReceiver } from '../helpers/scripted-receiver.js';
import { makeWorld, type RunResult, type World } from '../helpers/world.js';

const TOKEN = 'tok-7f3a9c2e5d1b4a8f6e0c3b9d2a7f1e4c';

let w: World;
let scripted: ScriptedReceiver | null = null;
let tokenFile: string;
let metrics: string;

beforeEach(async () => {
  w = await makeWorld({ receiver: { tokens: [TOKEN] } });
  tokenFile = join(w.dir, 'token');
  await writeFile(tokenFile, TOKEN + '\n', { mode: 0o600 });
  metrics = join(w.dir, 'metrics.prom');
  await w.writeConfig({ 'receiver.token_file': tokenFile, 'metrics.textfile': metrics });
});
afterEach(async () => {
  await scripted?.close();
  scripted = null;
  await w.close();
});

/** Every line of the key's base64 body (each one would betray part of the key). */
function keyLines(): string[] {
  return w.pki.client.keyPem
    .toString('utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'));
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = join(dir, n);
    const st = await stat(p);
    if (st.isDirectory()) out.push(...(await filesUnder(p)));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/** Everything the shipper wrote: outputs of the runs, state/, reason files, metrics. */
async function everythingWritten(runs: RunResult[]): Promise<{ where: string; text: string }[]> {
  const all = runs.flatMap((r, i) => [
    { where: `run ${i} stdout`, text: r.stdout },
    { where: `run ${i} stderr`, text: r.stderr },
  ]);
  const files = [...(await filesUnder(w.state)), ...(await filesUnder(w.quarantine)).filter((f) => f.endsWith('quarantine_reason.json')), metrics];
  for (const f of files) {
    try {
      all.push({ where: f, text: await readFile(f, 'latin1') });
    } catch {
      // the metrics file exists only when configured and a pass ran
    }
  }
  return all;
}

async function expectNoSecret(runs: RunResult[]): Promise<void> {
  const written = await everythingWritten(runs);
  expect(written.length).toBeGreaterThan(runs.length * 2);
  for (const { where, text } of written) {
    expect(text.includes(TOKEN), `the token appears in ${where}`).toBe(false);
    for (const line of keyLines()) expect(text.includes(line), `a line of the key appears in ${where}`).toBe(false);
  }
}

describe('the token and the key never appear in what the shipper writes', () => {
  it('through a normal life: check-config, --ping, --once, status, status --json', async () => {
    await w.makeEpisode('ep-1');
    await w.makeEpisode('ep-badmeta', {}, { meta: '{' });
    const runs = [
      await w.run(['check-config']),
      await w.run(['--ping']),
      await w.run(['--once'], { env: { SHIPPER_LOG_LEVEL: 'debug' } }),
      await w.run(['status']),
      await w.run(['status', '--json']),
    ];
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 0, 0]);
    expect(await w.list(w.shipped)).toEqual(['ep-1']);
    await expectNoSecret(runs);
  });

  it('when a receiver echoes the Authorization header in its answers (400, 403, 503, 404) and in headers', async () => {
    const echo = (h: string | undefined) => JSON.stringify({ error: 'echo', detail: `you sent ${h}`, headers: { authorization: h } });
    let put = 0;
    scripted = await scriptedReceiver(w.pki, (req) => {
      const auth = req.headers.authorization;
      if (req.path.endsWith('/v1/ping')) return put >= 3 ? { status: 403, body: echo(auth) } : { status: 200, body: '{"ok":true}' };
      put++;
      const status = [400, 503, 404][put - 1] ?? 403;
      return { status, headers: { 'x-echo': String(auth), 'retry-after': '1' }, body: echo(auth) };
    });
    await w.writeConfig({ 'receiver.url': scripted.url, 'receiver.token_file': tokenFile, 'metrics.textfile': metrics, 'ship.concurrency': 1 });
    await w.makeEpisode('ep-1');
    const runs: RunResult[] = [];
    for (let i = 0; i < 4; i++) runs.push(await w.run(['--once'], { env: { SHIPPER_LOG_LEVEL: 'debug' } }));
    runs.push(await w.run(['status']), await w.run(['status', '--json']), await w.run(['--ping']));
    // The receiver did receive the token (it is the receiver's to check), and it was echoed.
    expect(scripted.seen.every((s) => s.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(await w.list(w.quarantine)).toEqual(['ep-1']);
    const reason = JSON.parse(await readFile(join(w.quarantine, 'ep-1', 'quarantine_reason.json'), 'utf8')) as { receiver_body: string };
    expect(reason.receiver_body).toContain('you sent Bearer ');
    await expectNoSecret(runs);
  });
});

describe('secrets that others could read are refused at start', () => {
  it('a client key readable by group or others: exit 78 naming receiver.key and the chmod that fixes it', async () => {
    await chmod(w.pki.client.key, 0o644);
    try {
      const r = await w.run(['--once']);
      expect(r.code).toBe(78);
      expect(r.stderr).toMatch(/receiver\.key: .* is accessible by group or others \(mode 0644\); run chmod 600 /);
      for (const line of keyLines()) expect(r.stdout + r.stderr).not.toContain(line);
    } finally {
      await chmod(w.pki.client.key, 0o600);
    }
  });

  it('a token file readable by others: exit 78 naming receiver.token_file, the token not printed', async () => {
    await chmod(tokenFile, 0o604);
    const r = await w.run(['--once']);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/receiver\.token_file: .* is accessible by group or others \(mode 0604\); run chmod 600 /);
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
  });
});
