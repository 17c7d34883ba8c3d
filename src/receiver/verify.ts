// Streaming validation of an upload while it arrives: the compressed bytes go into a
// spawned `zstd -dc -q` (argv, no shell), whose output is parsed by tar-stream. Nothing is
// extracted or buffered except `<id>/meta.json` (bounded), so memory does not grow with the
// archive. The verdict comes as soon as it is known: a bad entry name or non-zstd data
// stops the upload early, and `zstd` is killed.
//
// What makes an archive valid: `zstd` decodes it, tar-stream parses it to its end, it has
// at least one entry, and every entry name (and every hard-link target) is `<id>` or sits
// under `<id>/`: not absolute, no `..` component. Symbolic links are stored as links and
// their targets are not checked: a link is data, and GNU tar never follows one on extract.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import tar from 'tar-stream';
import { Refusal } from './answer.js';
import { MAX_META_BYTES } from './meta.js';

export interface VerifyOptions {
  readonly id: string;
  /** Called with meta.json's text, or null at the end when there was none. */
  readonly checkMeta: ((text: Buffer | null) => Refusal | null) | null;
  /** The zstd binary; production: `zstd` from PATH. */
  readonly zstd?: string;
}

export type Verdict = { readonly ok: true; readonly entries: number } | { readonly ok: false; readonly refusal: Refusal };

export interface Verification {
  /** Write the compressed bytes here, then end it. */
  readonly input: Writable;
  /** Settles once: at the first problem, or when the whole archive was read. Never rejects. */
  readonly verdict: Promise<Verdict>;
  /** Stop: kill zstd and drop everything (idempotent). */
  abort(): void;
}

const notTar = (detail: string) => new Refusal(400, 'not_tar_zst', detail);

/** Why `name` is not inside `<id>/`, or null when it is. */
export function entryProblem(id: string, name: string): string | null {
  if (name.startsWith('/')) return 'is an absolute path';
  const parts = name.split('/');
  if (parts.includes('..')) return 'has a ".." component';
  if (parts[0] !== id) return `is outside ${id}/`;
  return null;
}

export function startVerification(options: VerifyOptions): Verification {
  const { id, checkMeta } = options;
  const child = spawn(options.zstd ?? 'zstd', ['-dc', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const extract = tar.extract();
  let stderr = '';
  let settle!: (v: Verdict) => void;
  const verdict = new Promise<Verdict>((resolve) => (settle = resolve));
  let done = false;

  const finish = (v: Verdict) => {
    if (done) return;
    done = true;
    settle(v);
    if (!v.ok) abort();
  };
  const abort = () => {
    done = true;
    settle({ ok: false, refusal: notTar('the upload was stopped') });
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child.stdout.unpipe(extract);
    extract.destroy();
  };

  // zstd closing its stdin early (bad data) shows up in its exit status, not here.
  child.stdin.on('error', () => {});
  child.stdout.on('error', () => {});
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 2000) stderr += s;
  });
  child.on('error', (err) => finish({ ok: false, refusal: new Refusal(500, 'internal', `cannot run zstd: ${err.message}`) }));
  let zstdOutputEnded = false;
  child.stdout.once('end', () => (zstdOutputEnded = true));
  child.stdout.pipe(extract);

  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  const parsed = (async (): Promise<Refusal | number> => {
    let entries = 0;
    let sawMeta = false;
    const metaName = `${id}/meta.json`;
    try {
      for await (const entry of extract) {
        entries++;
        const h = entry.header;
        const problem = entryProblem(id, h.name);
        if (problem) return new Refusal(400, 'path_outside_episode', `archive entry ${JSON.stringify(h.name)} ${problem}`);
        if (h.type === 'link' && h.linkname) {
          const linkProblem = entryProblem(id, h.linkname);
          if (linkProblem) {
            return new Refusal(400, 'path_outside_episode', `hard link ${JSON.stringify(h.name)} points to ${JSON.stringify(h.linkname)}, which ${linkProblem}`);
          }
        }
        if (checkMeta && h.name === metaName && h.type === 'file') {
          sawMeta = true;
          if ((h.size ?? 0) > MAX_META_BYTES) return new Refusal(400, 'bad_meta', `${metaName} is larger than ${MAX_META_BYTES} bytes`);
          const parts: Buffer[] = [];
          for await (const chunk of entry) parts.push(chunk as Buffer);
          const refusal = checkMeta(Buffer.concat(parts));
          if (refusal) return refusal;
        } else {
          entry.resume();
        }
      }
    } catch (err) {
      if (done) return 0;
      return notTar(`the body is not a tar archive after zstd decompression (${err instanceof Error ? err.message : String(err)})`);
    }
    if (entries === 0) return notTar('the archive holds no entries');
    if (checkMeta && !sawMeta) {
      const refusal = checkMeta(null);
      if (refusal) return refusal;
    }
    return entries;
  })();

  void (async () => {
    const r = await parsed;
    // A tar error right after zstd's output ended is only a consequence of zstd failing (its
    // exit status says why); while zstd still produces output, the tar error is the verdict.
    if (r instanceof Refusal && !(r.code === 'not_tar_zst' && zstdOutputEnded)) return finish({ ok: false, refusal: r });
    const [code, signal] = await exited;
    if (done) return;
    if (code !== 0) {
      const why = stderr.split('\n').find((l) => l.trim() !== '')?.trim() ?? `exit ${code ?? signal}`;
      return finish({ ok: false, refusal: notTar(`the body is not valid zstd data (zstd: ${why.replace(/^zstd: /, '').replace(/^\/\*stdin\*\\: /, '')})`) });
    }
    if (r instanceof Refusal) return finish({ ok: false, refusal: r });
    finish({ ok: true, entries: r });
  })();

  return { input: child.stdin, verdict, abort };
}
