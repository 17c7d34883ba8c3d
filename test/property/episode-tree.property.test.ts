// Generated episode trees — odd names (spaces, UTF-8, control characters, 255 bytes), every
// permission bit pattern, mtimes before 1970 and after 2038, symlinks (loops, dangling,
// pointing out of the tree at a secret file), hard links, sparse files, empty folders —
// always round-trip exactly through the real `zstd -dc | tar -x`; a name that is not UTF-8
// is refused as SHIP_EPISODE_UNREADABLE naming it. Nothing outside the episode is ever
// read: the secret's bytes never appear in the archive, and links are stored as links.

import fc from 'fast-check';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, link, lstat, lutimes, mkdir, mkdtemp, open, readFile, readdir, readlink, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, isShipperError } from '../../src/errors.js';
import { packEpisode } from '../../src/pack/index.js';
import { pipeOk, run } from '../pack/helpers.js';
import { makeWorld } from '../helpers/world.js';

type LinkTarget = 'secret-abs' | 'secret-rel' | 'secret-dir' | 'self' | 'loop' | 'dangling' | 'parent' | 'root' | 'sibling';
type Spec =
  | { kind: 'file'; name: string; size: number; mode: number; mtime: number; sparse: boolean }
  | { kind: 'dir'; name: string; mode: number; mtime: number; children: Spec[] }
  | { kind: 'link'; name: string; target: LinkTarget }
  | { kind: 'hardlink'; name: string };

const validName = (s: string) => s !== '' && s !== '.' && s !== '..' && !s.includes('/') && !s.includes('\0') && Buffer.byteLength(s) <= 255;

const nameArb = fc
  .oneof(
    { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }) },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 8 }) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(' lead space', 'trail space ', 'a b c', '.hidden', '..x', '-dash', 'quote"s', "it's", 'back\\slash', 'tab\tname', 'new\nline', '*?[]', '~', 'x'.repeat(255), 'é'.repeat(127) + 'x', '日本語'.repeat(28), 'A'.repeat(101), 'ü'),
    },
  )
  .filter(validName);

const fileMode = fc.constantFrom(0o644, 0o600, 0o755, 0o444, 0o000, 0o4755, 0o2644, 0o777);
const dirMode = fc.constantFrom(0o755, 0o700, 0o555, 0o1777, 0o2750, 0o000);
// Seconds: before 1970, the 32-bit edge, after 2038.
const mtime = fc.oneof(fc.integer({ min: 0, max: 2_000_000_000 }), fc.constantFrom(-1, -86_400 * 365 * 30, 2 ** 31 - 1, 2 ** 31, 4_102_444_800));

const tree = fc.letrec<{ node: Spec; dir: Spec & { kind: 'dir' } }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('file' as const), name: nameArb, size: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20_000 }), fc.constant(600_000)), mode: fileMode, mtime, sparse: fc.integer({ min: 0, max: 9 }).map((x) => x === 0) }) },
    { weight: 2, arbitrary: tie('dir') },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('link' as const), name: nameArb, target: fc.constantFrom<LinkTarget>('secret-abs', 'secret-rel', 'secret-dir', 'self', 'loop', 'dangling', 'parent', 'root', 'sibling') }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('hardlink' as const), name: nameArb }) },
  ),
  dir: fc.record({
    kind: fc.constant('dir' as const),
    name: nameArb,
    mode: dirMode,
    mtime,
    children: fc.uniqueArray(tie('node'), { maxLength: 6, selector: (s) => s.name }),
  }),
}));

let work: string;
let secretMarker: string;
let secretFile: string;
let secretDir: string;
let n = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'shipper-tree-prop-'));
  secretDir = join(work, 'secrets');
  await mkdir(secretDir);
  secretMarker = `SECRET-${randomBytes(16).toString('hex')}`;
  secretFile = join(secretDir, 'secret.txt');
  await writeFile(secretFile, `${secretMarker}\n`.repeat(50), { mode: 0o600 });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

interface Built {
  root: string;
  links: string[];
}

/** Make `spec` (a folder) at `path`; `depth` levels below the episode root. */
async function build(path: string, spec: Spec & { kind: 'dir' }, depth: number, built: Built, files: string[]): Promise<void> {
  await mkdir(path);
  for (const c of spec.children) {
    const p = join(path, c.name);
    switch (c.kind) {
      case 'file': {
        if (c.sparse) {
          const fh = await open(p, 'w');
          await fh.truncate(5_000_000);
          await fh.write(Buffer.from('sparse island'), 0, 13, 3_000_000);
          await fh.close();
        } else {
          await writeFile(p, randomBytes(c.size));
        }
        await chmod(p, c.mode);
        await utimes(p, c.mtime, c.mtime);
        files.push(p);
        break;
      }
      case 'dir':
        await build(p, c, depth + 1, built, files);
        break;
      case 'link': {
        const up = '../'.repeat(depth + 3); // out of the episode, out of episodes/, into the case folder
        const target = {
          'secret-abs': secretFile,
          'secret-rel': `${up}../secrets/secret.txt`,
          'secret-dir': secretDir,
          self: c.name,
          loop: `${c.name}.other/../${c.name}`,
          dangling: 'no/such/file',
          parent: '..',
          root: '/',
          sibling: spec.children.find((x) => x.kind === 'file')?.name ?? 'nothing',
        }[c.target];
        await symlink(target, p);
        await lutimes(p, 1_600_000_000, 1_600_000_000);
        built.links.push(p);
        break;
      }
      case 'hardlink':
        if (files[0]) await link(files[0], p);
        else await writeFile(p, '');
        break;
    }
  }
  await chmod(path, spec.mode);
  await utimes(path, spec.mtime, spec.mtime);
}

/** rel path → identity (type, mode bits, size, sha-256, mtime s, link target). */
async function manifest(root: string, rel = '.', out = new Map<string, string>()): Promise<Map<string, string>> {
  const p = join(root, rel);
  const st = await lstat(p);
  const mode = (st.mode & 0o7777).toString(8);
  const t = Math.floor(st.mtimeMs / 1000);
  if (st.isSymbolicLink()) out.set(rel, `link -> ${await readlink(p)}`);
  else if (st.isFile()) out.set(rel, `file ${mode} ${st.size} ${createHash('sha256').update(await readFile(p)).digest('hex')} ${t}`);
  else if (st.isDirectory()) {
    out.set(rel, `dir ${mode} ${t}`);
    for (const name of (await readdir(p)).sort()) await manifest(root, rel === '.' ? name : `${rel}/${name}`, out);
  }
  return out;
}

async function roundTrip(spec: Spec & { kind: 'dir' }): Promise<void> {
  const caseDir = join(work, `case-${n++}`);
  const episodes = join(caseDir, 'episodes');
  await mkdir(episodes, { recursive: true });
  const root = join(episodes, 'ep');
  const built: Built = { root, links: [] };
  await build(root, { ...spec, name: 'ep' }, 0, built, []);
  const out = join(caseDir, 'ep.tar.zst');
  try {
    const res = await packEpisode({ episodeDir: root, id: 'ep', out, level: 1 });
    const tarBytes = await pipeOk(['zstd', '-dc', '-q', out], ['cat']);
    // Nothing from outside the episode: the secret's bytes are nowhere in the archive.
    expect(tarBytes.includes(Buffer.from(secretMarker))).toBe(false);
    const into = join(caseDir, 'x');
    await mkdir(into);
    const x = await run(['tar', '-x', '-C', into], tarBytes);
    expect(x.code, x.stderr).toBe(0);
    const want = await manifest(root);
    const got = await manifest(join(into, 'ep'));
    expect(got).toEqual(want);
    expect(res.entries).toBe(want.size);
    // Every symlink made is a symlink in the archive (tar -tv type "l"), never followed.
    const listing = (await run(['tar', '-tv'], tarBytes)).stdout.toString('utf8');
    expect(listing.split('\n').filter((l) => l.startsWith('l')).length).toBe(built.links.length);
  } finally {
    await chmodTree(caseDir);
    await rm(caseDir, { recursive: true, force: true });
  }
}

/** Give back write access so that rm can clean up (root mostly ignores it anyway). */
async function chmodTree(dir: string): Promise<void> {
  await run(['chmod', '-R', 'u+rwX', dir]);
}

describe('generated episode trees', () => {
  it('round-trip exactly through zstd -dc | tar -x, links stored as links, the secret outside never read', async () => {
    await fc.assert(fc.asyncProperty(tree.dir, (spec) => roundTrip(spec)), { numRuns: 40 });
  });

  it('a name or a link target that is not UTF-8 is refused as SHIP_EPISODE_UNREADABLE naming it, with no temp file left', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 3 }), fc.boolean(), async (bytes, depth, asLinkTarget) => {
        const bad = Buffer.concat([Buffer.from('bad'), Buffer.from(bytes), Buffer.from([0xff])]).filter((b) => b !== 0x2f && b !== 0);
        const caseDir = join(work, `case-${n++}`);
        const root = join(caseDir, 'ep');
        let dir = root;
        for (let i = 0; i < depth; i++) dir = join(dir, `d${i}`);
        await mkdir(dir, { recursive: true });
        await writeFile(join(root, 'ok.txt'), 'fine');
        if (asLinkTarget) await symlink(Buffer.from(bad), join(dir, 'link'));
        else await writeFile(Buffer.concat([Buffer.from(dir + '/'), Buffer.from(bad)]), 'x');
        const out = join(caseDir, 'ep.tar.zst');
        try {
          await packEpisode({ episodeDir: root, id: 'ep', out, level: 1 });
          expect.unreachable('a non-UTF-8 name was packed');
        } catch (err) {
          expect(isShipperError(err, ErrorCodes.EPISODE_UNREADABLE), String(err)).toBe(true);
          expect((err as Error).message).toMatch(/\\xff/);
          expect((err as Error).message).toMatch(/not valid UTF-8/);
        }
        expect(await readdir(caseDir)).toEqual(['ep']);
        await rm(caseDir, { recursive: true, force: true });
      }),
      { numRuns: 30 },
    );
  });

  it('thousands of entries, deep nesting and 255-byte names near PATH_MAX round-trip exactly', async () => {
    const wide: Spec & { kind: 'dir' } = {
      kind: 'dir',
      name: 'ep',
      mode: 0o755,
      mtime: 1_700_000_000,
      children: Array.from({ length: 30 }, (_, d) => ({
        kind: 'dir' as const,
        name: `dir-${d}`,
        mode: 0o755,
        mtime: 1_700_000_000 + d,
        children: Array.from({ length: 100 }, (_, f) => ({ kind: 'file' as const, name: `f-${f}.csv`, size: f % 7 === 0 ? 0 : 50 + f, mode: 0o644, mtime: 1_600_000_000 + f, sparse: false })),
      })),
    };
    await roundTrip(wide);
    let deep: Spec & { kind: 'dir' } = { kind: 'dir', name: 'leaf', mode: 0o700, mtime: 1, children: [{ kind: 'file', name: 'bottom.bin', size: 10, mode: 0o600, mtime: 2, sparse: false }] };
    for (let i = 0; i < 120; i++) deep = { kind: 'dir', name: `d${i}`, mode: 0o755, mtime: 1000 + i, children: [deep] };
    await roundTrip({ ...deep, name: 'ep' });
    let long: Spec & { kind: 'dir' } = { kind: 'dir', name: 'l'.repeat(255), mode: 0o755, mtime: 5, children: [{ kind: 'file', name: 'é'.repeat(127) + 'x', size: 3, mode: 0o644, mtime: 6, sparse: false }] };
    for (let i = 0; i < 12; i++) long = { kind: 'dir', name: String(i).repeat(255).slice(0, 255), mode: 0o755, mtime: 7 + i, children: [long] };
    await roundTrip({ ...long, name: 'ep' });
  }, 120_000);
});

describe('an unreadable episode through the shipper', () => {
  it('--once quarantines it as unreadable with the path named, and ships the rest', async () => {
    const w = await makeWorld();
    try {
      await w.makeEpisode('ep-ok');
      const bad = await w.makeEpisode('ep-bad', { 'fine.txt': 'x' });
      await writeFile(Buffer.concat([Buffer.from(bad + '/caf'), Buffer.from([0xe9]), Buffer.from('.txt')]), 'latin-1 name');
      const r = await w.run(['--once']);
      expect(r.code).toBe(0);
      expect(await w.list(w.shipped)).toEqual(['ep-ok']);
      expect(await w.list(w.quarantine)).toEqual(['ep-bad']);
      const reason = JSON.parse(await readFile(join(w.quarantine, 'ep-bad', 'quarantine_reason.json'), 'utf8')) as Record<string, string>;
      expect(reason.reason).toBe('unreadable');
      expect(reason.detail).toContain('caf\\xe9.txt');
    } finally {
      await w.close();
    }
  });
});
