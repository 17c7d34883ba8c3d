import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isHeld, lockHolder, lockInstance, lockPass, someoneWaits, tryLock } from '../../src/queue/lock.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shipper-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the single-instance lock', () => {
  it('is taken once; a second taker learns the holder and gets SHIP_LOCKED naming the pid', async () => {
    const held = await lockInstance(dir, 'daemon');
    try {
      expect(await readFile(join(dir, 'lock'), 'utf8')).toMatch(new RegExp(`^pid=${process.pid} mode=daemon since=`));
      const holder = await lockHolder(dir);
      expect(holder).toMatchObject({ pid: process.pid, mode: 'daemon' });
      await expect(lockInstance(dir, 'once')).rejects.toMatchObject({
        code: 'SHIP_LOCKED',
        message: expect.stringContaining(`pid ${process.pid} (daemon`),
      });
    } finally {
      await held.release();
    }
    expect(await lockHolder(dir)).toBeNull();
    const again = await lockInstance(dir, 'once');
    await again.release();
  });

  it('is released by the kernel when its holder is killed with SIGKILL', async () => {
    const script = `
      import('${join(process.cwd(), 'dist/queue/lock.js')}').then(async (m) => {
        await m.lockInstance(${JSON.stringify(dir)}, 'daemon');
        process.stdout.write('held\\n');
        setInterval(() => {}, 1000);
      });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    expect((await lockHolder(dir))?.pid).toBe(child.pid);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // No stale lock to break: the next taker succeeds at once.
    const l = await tryLock(dir, 'instance', 'once');
    expect(isHeld(l)).toBe(true);
    if (isHeld(l)) await l.release();
  });

  it('is separate for separate state folders', async () => {
    const other = await mkdtemp(join(tmpdir(), 'shipper-lock-'));
    try {
      const a = await lockInstance(dir, 'daemon');
      const b = await lockInstance(other, 'daemon');
      await a.release();
      await b.release();
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});

describe('the pass lock', () => {
  it('makes a tool wait, announced, until the holder lets go', async () => {
    const daemonPass = await lockPass(dir, 'daemon');
    let waitedFor: number | null = null;
    const tool = lockPass(dir, 'requeue', { announce: true, onWait: (h) => (waitedFor = h.pid), pollMs: 10 });
    await new Promise((r) => setTimeout(r, 100));
    expect(waitedFor).toBe(process.pid);
    expect(await someoneWaits(dir)).toBe(true);
    await daemonPass.release();
    const got = await tool;
    expect(await someoneWaits(dir)).toBe(false);
    await got.release();
  });

  it('gives up waiting when its signal aborts', async () => {
    const held = await lockPass(dir, 'daemon');
    const ac = new AbortController();
    const waiting = lockPass(dir, 'tool', { signal: ac.signal, pollMs: 10 });
    setTimeout(() => ac.abort(), 50);
    await expect(waiting).rejects.toThrow();
    await held.release();
  });
});
