// Round trip through the real tools: `zstd -dc X | tar -x` (GNU tar) must give back a tree
// equal to the episode — contents, symlinks, permission bits, mtimes — and the archive must
// hold its entries in the documented order with uid/gid 0 and no user or group names.

import { linkSync, lstatSync, readdirSync, readlinkSync, statSync, utimesSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fingerprintEpisode, packEpisode } from '../../src/pack/index.js';
import { Pacer } from '../../src/pack/pacer.js';
import {
  buildTree,
  decompress,
  extract,
  memoryLogger,
  parseTar,
  run,
  runOk,
  tarNames,
  tempDir,
  type Spec,
} from './helpers.js';

const ID = 'ep-roundtrip-7';

const n100 = `${'a'.repeat(96)}.txt`;
const n150 = `${'b'.repeat(146)}.txt`;
const n255 = `${'c'.repeat(251)}.txt`;
const utf255 = `${'é'.repeat(126)}xyz`; // 252 + 3 = 255 bytes
const deep = `${'d'.repeat(100)}/${'e'.repeat(100)}/${'f'.repeat(100)}`;

const TREE: Spec[] = [
  { path: 'meta.json', content: '{"episode_id":"ep-roundtrip-7"}\n' },
  { path: '.dotfile', content: 'hidden\n', mode: 0o640 },
  { path: '.dotdir/', dir: true },
  { path: '.dotdir/inner', content: 'x' },
  { path: n100, content: '100-byte name\n' },
  { path: n150, content: '150-byte name\n' },
  { path: n255, content: '255-byte name\n' },
  { path: utf255, content: '255-byte UTF-8 name\n' },
  { path: `${deep}/`, dir: true },
  { path: `${deep}/file-at-the-end-of-a-path-over-300-bytes.txt`, content: 'deep\n' },
  { path: 'unicode/', dir: true },
  { path: 'unicode/日本語のファイル.csv', content: '1,2,3\n' },
  { path: 'unicode/émoji-🚀.txt', content: 'rocket\n' },
  { path: 'unicode/NFD-e\u0301.txt', content: 'decomposed\n' },
  { path: 'spaces and "quotes".txt', content: 'q\n' },
  { path: 'empty-file', content: '' },
  { path: 'empty-dir/', dir: true, mode: 0o700 },
  { path: 'modes/', dir: true },
  { path: 'modes/none', content: 'mode 000\n', mode: 0o000 },
  { path: 'modes/setuid', content: '#!/bin/sh\n', mode: 0o4755 },
  { path: 'modes/setgid', content: '#!/bin/sh\n', mode: 0o2711 },
  { path: 'modes/sticky-dir/', dir: true, mode: 0o1777 },
  { path: 'times/', dir: true },
  { path: 'times/after-2038.txt', content: 'future\n', mtime: 2_208_988_800 }, // 2040-01-01
  { path: 'times/before-1970.txt', content: 'past\n', mtime: -315_619_200 }, // 1960-01-01
  { path: 'times/epoch.txt', content: 'zero\n', mtime: 0 },
  { path: 'links/', dir: true },
  { path: 'links/to-dir', symlink: '../unicode' },
  { path: 'links/dangling', symlink: '../no/such/file' },
  { path: 'links/absolute', symlink: '/etc/hostname' },
  { path: 'links/utf8-target', symlink: '../unicode/émoji-🚀.txt' },
  { path: `links/long-target`, symlink: `../${deep}/file-at-the-end-of-a-path-over-300-bytes.txt` },
  { path: 'z-a', content: 'z-a\n' },
  { path: 'z/', dir: true },
  { path: 'z/inside', content: 'z\n' },
  { path: 'z0', content: 'after z/\n' },
];

/** Every path under `root` as an archive name (`<id>/rel`, folders with `/`), sorted bytewise. */
function expectedNames(root: string): string[] {
  const names: Buffer[] = [Buffer.from(`${ID}/`)];
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(p);
      if (st.isFIFO() || st.isSocket() || st.isCharacterDevice() || st.isBlockDevice()) continue;
      names.push(Buffer.from(`${ID}/${r}${st.isDirectory() ? '/' : ''}`));
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(root, '');
  return names.sort(Buffer.compare).map((b) => b.toString('utf8'));
}

interface Facts {
  mode: number;
  mtime: number;
  type: string;
  target?: string;
}

function facts(root: string): Map<string, Facts> {
  const out = new Map<string, Facts>();
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(p);
      const f: Facts = {
        mode: st.mode & 0o7777,
        mtime: Math.floor(st.mtimeMs / 1000),
        type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file',
      };
      if (st.isSymbolicLink()) f.target = readlinkSync(p);
      out.set(r, f);
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(root, '');
  return out;
}

describe('packEpisode round trip through zstd and GNU tar', () => {
  const base = tempDir();
  const ep = join(base, 'episodes', ID);
  buildTree(ep, TREE, 1_700_000_000);
  // A hard link: both names must come back as independent regular files with the bytes.
  linkSync(join(ep, 'meta.json'), join(ep, 'meta-hardlink.json'));
  utimesSync(ep, new Date(1_700_000_000_000), new Date(1_700_000_000_000));
  const out = join(base, 'out.tar.zst');
  const packed = packEpisode({ episodeDir: ep, id: ID, out, level: 3 });

  it('extracts to a tree equal to the episode (diff -r --no-dereference)', async () => {
    await packed;
    const dest = join(base, 'x1');
    await extract(out, dest);
    const r = await run(['diff', '-r', '--no-dereference', ep, join(dest, ID)]);
    expect(r.stdout.toString() + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('keeps permission bits, mtimes in seconds (also before 1970 and after 2038) and symlink targets', async () => {
    await packed;
    const dest = join(base, 'x2');
    await extract(out, dest);
    const want = facts(ep);
    const got = facts(join(dest, ID));
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [rel, w] of want) {
      const g = got.get(rel)!;
      expect({ rel, type: g.type, target: g.target }).toEqual({ rel, type: w.type, target: w.target });
      if (w.type !== 'symlink') {
        expect({ rel, mode: g.mode.toString(8), mtime: g.mtime }).toEqual({ rel, mode: w.mode.toString(8), mtime: w.mtime });
      }
    }
    expect(want.get('times/before-1970.txt')!.mtime).toBe(-315_619_200);
    expect(want.get('times/after-2038.txt')!.mtime).toBe(2_208_988_800);
    expect(statSync(join(dest, ID)).mtimeMs / 1000).toBe(1_700_000_000);
  });

  it('lists <id>/ first, then every entry in bytewise order of names with folders ending in /', async () => {
    const r = await packed;
    const names = await tarNames(await decompress(out));
    expect(names[0]).toBe(`${ID}/`);
    expect(names).toEqual(expectedNames(ep));
    expect(r.entries).toBe(names.length);
    // The cases the rule exists for: '-' (0x2d) < '/' (0x2f) < '0' (0x30).
    const at = (n: string): number => names.indexOf(`${ID}/${n}`);
    expect(at('z-a')).toBeLessThan(at('z/'));
    expect(at('z/')).toBeLessThan(at('z/inside'));
    expect(at('z/inside')).toBeLessThan(at('z0'));
  });

  it('writes uid/gid 0 and no user or group names, and stores links as links, hard links as files', async () => {
    await packed;
    const tar = await decompress(out);
    const entries = await parseTar(tar);
    for (const e of entries) expect({ n: e.name, uid: e.uid, gid: e.gid, u: e.uname, g: e.gname }).toEqual({ n: e.name, uid: 0, gid: 0, u: '', g: '' });
    const byName = new Map(entries.map((e) => [e.name, e]));
    expect(byName.get(`${ID}/links/to-dir`)).toMatchObject({ type: 'symlink', linkname: '../unicode', size: 0 });
    expect(byName.get(`${ID}/links/dangling`)).toMatchObject({ type: 'symlink', linkname: '../no/such/file' });
    expect(byName.get(`${ID}/meta-hardlink.json`)).toMatchObject({ type: 'file', size: 32 });
    expect(byName.get(`${ID}/meta-hardlink.json`)!.data.toString()).toBe('{"episode_id":"ep-roundtrip-7"}\n');
    expect(byName.get(`${ID}/meta.json`)).toMatchObject({ type: 'file', size: 32 });
    // Nothing under the symlinked folder was followed into the archive.
    expect(entries.filter((e) => e.name.startsWith(`${ID}/links/to-dir/`))).toEqual([]);
    const listing = (await runOk(['tar', '-tv', '--numeric-owner', '-f', '-'], tar)).toString();
    for (const line of listing.trim().split('\n')) expect(line).toMatch(/^\S+ 0\/0 /);
  });

  it('writes the same tar and fingerprint when its file-system calls run on the threadpool', async () => {
    const r = await packed;
    const out2 = join(base, 'threadpool.tar.zst');
    const r2 = await packEpisode({ episodeDir: ep, id: ID, out: out2, level: 3 }, { pacer: new Pacer({ threadpool: true }) });
    expect((await decompress(out2)).equals(await decompress(out))).toBe(true);
    expect(r2.fingerprint).toBe(r.fingerprint);
    expect(await fingerprintEpisode(ep)).toBe(r.fingerprint);
  });
});

describe('packEpisode with FIFOs, sockets and devices in the tree', () => {
  const servers: Server[] = [];
  afterAll(() => {
    for (const s of servers) s.close();
  });

  it('leaves them out with a warning and never opens them (a FIFO would hang)', async () => {
    const base = tempDir();
    const ep = join(base, 'ep-special');
    buildTree(ep, [
      { path: 'a.txt', content: 'a\n' },
      { path: 'sub/', dir: true },
      { path: 'sub/z.txt', content: 'z\n' },
    ]);
    await runOk(['mkfifo', join(ep, 'sub', 'pipe')]);
    const server = createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(join(ep, 'sock'), resolve));
    const root = process.getuid?.() === 0;
    // Devices need mknod(2), i.e. root; without root the tree has the FIFO and the socket only.
    if (root) await runOk(['mknod', join(ep, 'null-device'), 'c', '1', '3']);
    const { log, lines } = memoryLogger();
    const out = join(base, 'out.tar.zst');
    const r = await packEpisode({ episodeDir: ep, id: 'ep-special', out, level: 3, log });
    expect(r.skipped).toBe(root ? 3 : 2);
    const names = await tarNames(await decompress(out));
    expect(names).toEqual(['ep-special/', 'ep-special/a.txt', 'ep-special/sub/', 'ep-special/sub/z.txt']);
    const warnings = lines.filter((l) => l.includes('event=pack_skipped'));
    expect(warnings).toContain('<4>event=pack_skipped episode=ep-special path=sub/pipe type=fifo\n');
    expect(warnings).toContain('<4>event=pack_skipped episode=ep-special path=sock type=socket\n');
    if (root) expect(warnings).toContain('<4>event=pack_skipped episode=ep-special path=null-device type=char_device\n');
    // One debug summary line per pack.
    expect(lines.filter((l) => l.startsWith('<7>event=pack_done episode=ep-special entries=4 skipped='))).toHaveLength(1);
    // The FIFO was never opened for reading: a writer opening it non-blockingly finds no reader.
    const probe = await run([process.execPath, '-e', `
      const fs = require('node:fs');
      try { fs.openSync(${JSON.stringify(join(ep, 'sub', 'pipe'))}, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK); console.log('reader'); }
      catch (e) { console.log(e.code); }`]);
    expect(probe.stdout.toString().trim()).toBe('ENXIO');
  });
});

describe('packEpisode on an empty episode folder', () => {
  it('packs the folder alone: one entry, <id>/, and the two zero blocks that end a tar', async () => {
    const base = tempDir();
    const ep = join(base, 'ep-empty');
    buildTree(ep, []);
    const out = join(base, 'empty.tar.zst');
    const r = await packEpisode({ episodeDir: ep, id: 'ep-empty', out, level: 3 });
    expect(r).toMatchObject({ entries: 1, inputBytes: 0, skipped: 0 });
    const tar = await decompress(out);
    expect(tar.length).toBe(512 + 1024);
    expect(await tarNames(tar)).toEqual(['ep-empty/']);
  });
});
