import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.js';
import { episodeArchive, type Archive } from '../helpers/archive.js';
import { makePki, type Pki } from '../helpers/pki.js';
import { send, tlsClient } from '../helpers/receiver.js';

const BIN = new URL('../../bin/shipper-receiver.js', import.meta.url).pathname;
const MAIN = new URL('../../dist/receiver/main.js', import.meta.url).pathname;

let pki: Pki;
let work: string;
let tokenFile: string;

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npx tsc -p tsconfig.json first`);
  pki = await makePki();
  work = await mkdtemp(join(tmpdir(), 'shipper-rx-cli-'));
  tokenFile = join(work, 'tokens');
  await writeFile(tokenFile, '# accepted tokens\ncli-token-123\n\n');
  await chmod(tokenFile, 0o600);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI to its end. */
async function runCli(args: string[]): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

const baseArgs = (store: string) => ['--listen', '127.0.0.1:0', '--store', store, '--ca', pki.ca.cert, '--cert', pki.server.cert, '--key', pki.server.key];

/** Start the CLI and wait for its listening line; returns the URL. */
async function startCli(args: string[]): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line; stderr: ${stderr}`)), 10_000);
    child.stderr!.on('data', () => {
      const first = stderr.split('\n')[0] ?? '';
      const m = /event=receiver_listening url=(https:\/\/127\.0\.0\.1:\d+)/.exec(first);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before listening; stderr: ${stderr}`)));
  });
  return { child, url, stderr: () => stderr };
}

describe('shipper-receiver command line', () => {
  it('prints its usage for --help and exits 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: shipper-receiver --listen HOST:PORT --store DIR');
  });

  it('prints its version for --version and exits 0', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`shipper-receiver ${VERSION}`);
  });

  it('exits 2 with a clear message for bad flags', async () => {
    const cases: [string[], RegExp][] = [
      [['--bogus'], /unknown flag "--bogus"/],
      [['--listen', '127.0.0.1:0'], /missing --store, --ca, --cert, --key/],
      [[...baseArgs(work).map((a) => (a === '127.0.0.1:0' ? 'localhost' : a))], /--listen "localhost" is not HOST:PORT/],
      [[...baseArgs(work), '--max-bytes', '-5'], /--max-bytes must be a whole number/],
      [[...baseArgs(work), '--window-days', 'seven'], /--window-days must be a whole number/],
      [[...baseArgs(work), '--store', 'twice'], /--store is given twice/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain('see shipper-receiver --help');
    }
  });

  it('exits 78 naming the flag, the file and the fix when a file cannot be read', async () => {
    const missing = join(work, 'no-such.key');
    const r = await runCli([...baseArgs(work).slice(0, -2), '--key', missing]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`--key ${missing}: cannot read the file (ENOENT); check the path`);
  });

  it('exits 78 when the key does not belong to the certificate, or the token file is empty', async () => {
    const wrongKey = await runCli([...baseArgs(work).slice(0, -2), '--key', pki.client.key]);
    expect(wrongKey.code).toBe(78);
    expect(wrongKey.stderr).toContain('does not belong to the certificate');
    const empty = join(work, 'empty-tokens');
    await writeFile(empty, '\n# nothing\n');
    const noTokens = await runCli([...baseArgs(work), '--token-file', empty]);
    expect(noTokens.code).toBe(78);
    expect(noTokens.stderr).toContain(`--token-file ${empty}: holds no token`);
  });

  it('exits 69 when the address is already in use', async () => {
    const store = await mkdtemp(join(work, 'store-'));
    const first = await startCli(baseArgs(store));
    try {
      const port = new URL(first.url).port;
      const r = await runCli(baseArgs(store).map((a) => (a === '127.0.0.1:0' ? `127.0.0.1:${port}` : a)));
      expect(r.code).toBe(69);
      expect(r.stderr).toContain('EADDRINUSE');
    } finally {
      first.child.kill('SIGTERM');
      await once(first.child, 'exit');
    }
  });

  it('logs its URL on the first line, serves pings with a token, and exits 0 on SIGTERM', async () => {
    const store = await mkdtemp(join(work, 'store-'));
    const { child, url, stderr } = await startCli([...baseArgs(store), '--token-file', tokenFile]);
    const agent = tlsClient(pki);
    try {
      const ok = await send(agent, `${url}/v1/ping`, 'POST', { 'x-shipper-host': 'lab-01', authorization: 'Bearer cli-token-123' });
      expect(ok.status).toBe(200);
      const refused = await send(agent, `${url}/v1/ping`, 'POST', { 'x-shipper-host': 'lab-01' });
      expect(refused.status).toBe(401);
    } finally {
      await agent.close();
    }
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(stderr()).toMatch(/event=receiver_stopping signal=SIGTERM/);
    expect(stderr()).toMatch(/event=receiver_stopped/);
    expect(stderr()).not.toContain('cli-token-123');
  });

  it('on SIGTERM in the middle of an upload, exits 0 within a few seconds and keeps no partial file', async () => {
    const store = await mkdtemp(join(work, 'store-'));
    const a: Archive = await episodeArchive(await mkdtemp(join(work, 'ep-')), 'ep-sigterm', { 'x.bin': Buffer.alloc(300_000, 3) });
    const { child, url } = await startCli(baseArgs(store));
    const socket = connect({ host: '127.0.0.1', port: Number(new URL(url).port), servername: 'localhost', ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem });
    socket.on('error', () => {});
    await once(socket, 'secureConnect');
    const body = await readFile(a.path);
    socket.write(`PUT /v1/episodes/ep-sigterm HTTP/1.1\r\nHost: localhost\r\nX-Shipper-Host: lab-01\r\nContent-Length: ${body.length}\r\n\r\n`);
    socket.write(body.subarray(0, 100));
    const deadline = Date.now() + 5_000;
    while (!(await readdir(store)).includes('lab-01')) {
      if (Date.now() > deadline) throw new Error('the upload did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
    const started = Date.now();
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(await readdir(join(store, 'lab-01'))).toEqual([]);
    socket.destroy();
  });
});
