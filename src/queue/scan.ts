// The scan of episodes/: which folders are ready, which must go to quarantine without a
// round trip, and how many wait. It must stay cheap with 100 000 folders none of which is
// ready, on the first pass (`--once`) and on every pass of a daemon:
//
// - One readdir with file types, names as strings: a Buffer per name costs about twice as
//   much. A name that is not valid UTF-8 (it decodes with U+FFFD) is looked up again in a
//   Buffer listing, made only when such a name exists, and handled by its bytes.
// - One stat per folder: its marker, synchronously, in batches with a turn of the event
//   loop between them. A missing marker costs one syscall and no object (throwIfNoEntry).
//   That stat IS the cheap recheck of an unready folder: remembering the folder's mtime
//   would need a stat of the folder instead, the same one syscall, and could only be
//   trusted on file systems that update a folder's mtime when a file inside is renamed.
// - Nothing is read, no path is built as a Buffer and no id is checked for a folder
//   without a marker, unless its name is not an id (it is quarantined once settled).
// - Only ready folders cost more: the reason-file check and meta.json, whose verdict is
//   remembered while the file's mtime, size and inode stay the same.

import { isUtf8 } from 'node:buffer';
import { readFileSync, statSync, type Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { fsError } from '../errors.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { REASON_FILE, idOf, printable } from './layout.js';
import type { Reason } from './quarantine.js';

export interface ScanSettings {
  readonly episodes: string;
  readonly readyMarker: string;
  readonly settleMs: number;
  readonly requireCodeVersion: boolean;
}

export interface ReadyEpisode {
  readonly id: string;
  readonly name: Buffer;
  readonly markerMtimeMs: number;
}

export interface LocalReject {
  readonly name: Buffer;
  readonly reason: Reason;
  readonly detail: string;
}

export interface ScanResult {
  /** Ready, settled, valid: oldest marker first. */
  readonly ready: ReadyEpisode[];
  readonly rejects: LocalReject[];
  /** Marker present but younger than settle_s. */
  readonly unsettled: number;
  /** No marker yet. */
  readonly notReady: number;
  /** Epoch ms of the oldest ready marker, or null. */
  readonly oldestReadyMs: number | null;
}

export const COMMIT_RE = /^[0-9a-fA-F]{40}$/;
const BATCH = 1000;

export type MetaVerdict = { ok: true; commit: string | null } | { ok: false; detail: string };

/** What meta.json says, as far as the shipper cares: valid JSON, and the commit if any. */
export function judgeMeta(text: string): MetaVerdict {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { ok: false, detail: `meta.json is not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return { ok: false, detail: 'meta.json is not a JSON object' };
  const cv = (data as { code_version?: unknown }).code_version;
  const commit = cv && typeof cv === 'object' ? (cv as { commit?: unknown }).commit : undefined;
  return { ok: true, commit: typeof commit === 'string' && COMMIT_RE.test(commit) ? commit : null };
}

export class Scanner {
  readonly #s: ScanSettings;
  readonly #log: Logger;
  readonly #warned = new Set<string>();
  /** meta.json verdicts by episode id, keyed on the file's mtime, size and inode; `gen` is the last scan that used it. */
  #meta = new Map<string, { key: string; verdict: MetaVerdict; gen: number }>();
  #gen = 0;

  constructor(settings: ScanSettings, log: Logger = silentLogger) {
    this.#s = settings;
    this.#log = log;
  }

  #warnOnce(name: Buffer, what: string): void {
    const k = `${name.toString('latin1')}\0${what}`;
    if (this.#warned.has(k)) return;
    this.#warned.add(k);
    this.#log.warn('episodes_stray', { name: printable(name), problem: what, fix: 'episodes/ holds only episode folders; move it away' });
  }

  #metaVerdict(dir: string | Buffer, key: string): MetaVerdict | null {
    const path = typeof dir === 'string' ? `${dir}/meta.json` : Buffer.concat([dir, Buffer.from('/meta.json')]);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return null;
    const stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    const cached = this.#meta.get(key);
    if (cached && cached.key === stamp) {
      cached.gen = this.#gen;
      return cached.verdict;
    }
    let verdict: MetaVerdict;
    try {
      verdict = st.isFile() ? judgeMeta(readFileSync(path, 'utf8')) : { ok: false, detail: 'meta.json is not a regular file' };
    } catch (err) {
      verdict = { ok: false, detail: `meta.json cannot be read: ${err instanceof Error ? err.message : String(err)}` };
    }
    this.#meta.set(key, { key: stamp, verdict, gen: this.#gen });
    return verdict;
  }

  /** episodes/ as (name, raw bytes or null when the name is valid UTF-8, dirent). */
  async #list(): Promise<{ name: string; raw: Buffer | null; e: Dirent }[]> {
    const dir = this.#s.episodes;
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      throw fsError(`scan ${dir}`, err);
    }
    const out: { name: string; raw: Buffer | null; e: Dirent }[] = [];
    let lossy = false;
    for (const e of entries) {
      if (e.name.includes('\uFFFD')) lossy = true;
      else out.push({ name: e.name, raw: null, e });
    }
    if (lossy) {
      // Rare: names whose bytes are not UTF-8 (or that hold U+FFFD itself). Their bytes are
      // the only handle on them, so they come from a listing by bytes.
      let raw: Dirent<Buffer>[];
      try {
        raw = await readdir(dir, { withFileTypes: true, encoding: 'buffer' });
      } catch (err) {
        throw fsError(`scan ${dir}`, err);
      }
      for (const e of raw) {
        const name = e.name.toString('utf8');
        if (name.includes('\uFFFD') || !isUtf8(e.name)) out.push({ name, raw: e.name, e: e as unknown as Dirent });
      }
    }
    return out;
  }

  /** One look at episodes/. `now` is epoch ms. */
  async scan(now: number): Promise<ScanResult> {
    const s = this.#s;
    const gen = ++this.#gen;
    const entries = await this.#list();
    const ready: ReadyEpisode[] = [];
    const rejects: LocalReject[] = [];
    let unsettled = 0;
    let notReady = 0;
    const prefix = s.episodes.endsWith('/') ? s.episodes : `${s.episodes}/`;
    const prefixBuf = Buffer.from(prefix);
    const marker = `/${s.readyMarker}`;
    for (let i = 0; i < entries.length; i++) {
      if (i > 0 && i % BATCH === 0) await yieldLoop();
      const { name: text, raw, e } = entries[i]!;
      if (text.charCodeAt(0) === 0x2e) continue; // dot-names: a recorder's temp folders, and ours
      const name = (): Buffer => raw ?? Buffer.from(text, 'utf8');
      if (!e.isDirectory()) {
        this.#warnOnce(name(), e.isSymbolicLink() ? 'a symbolic link (never followed)' : 'not a folder');
        continue;
      }
      // A string path names the folder exactly when its name is valid UTF-8; else its bytes do.
      const dir: string | Buffer = raw === null ? prefix + text : Buffer.concat([prefixBuf, raw]);
      const st = statSync(typeof dir === 'string' ? dir + marker : Buffer.concat([dir, Buffer.from(marker)]), { throwIfNoEntry: false });
      const id = raw === null ? idOf(text) : null;
      let settledAt: number;
      if (st) {
        settledAt = st.mtimeMs;
      } else if (id === null) {
        // A folder that is not an id is quarantined once it has not changed for settle_s,
        // marker or not: it would never be shipped, so waiting for a marker helps nobody.
        const fst = statSync(dir, { throwIfNoEntry: false });
        if (!fst) continue;
        settledAt = fst.mtimeMs;
      } else {
        notReady++;
        continue;
      }
      if (now - settledAt < s.settleMs) {
        unsettled++;
        continue;
      }
      // A reason file in episodes/ means a quarantine was cut short: recovery finishes it.
      const reasonPath = typeof dir === 'string' ? `${dir}/${REASON_FILE}` : Buffer.concat([dir, Buffer.from(`/${REASON_FILE}`)]);
      if (statSync(reasonPath, { throwIfNoEntry: false })) continue;
      if (id === null) {
        const n = name();
        rejects.push({ name: n, reason: 'invalid_episode_id', detail: `the folder name ${JSON.stringify(printable(n))} is not an episode id ([A-Za-z0-9][A-Za-z0-9._-]{0,127})` });
        continue;
      }
      const meta = this.#metaVerdict(dir, id);
      if (meta && !meta.ok) {
        rejects.push({ name: name(), reason: 'invalid_meta', detail: meta.detail });
        continue;
      }
      if (s.requireCodeVersion && (meta === null || meta.commit === null)) {
        rejects.push({
          name: name(),
          reason: 'unstamped',
          detail: meta === null ? 'no meta.json, and ship.require_code_version is set' : 'meta.json has no 40-hex code_version.commit, and ship.require_code_version is set',
        });
        continue;
      }
      ready.push({ id, name: name(), markerMtimeMs: settledAt });
    }
    // Verdicts of folders that were not looked at this time (gone, or no longer ready).
    for (const [k, v] of this.#meta) if (v.gen !== gen) this.#meta.delete(k);
    ready.sort((a, b) => a.markerMtimeMs - b.markerMtimeMs || Buffer.compare(a.name, b.name));
    return { ready, rejects, unsettled, notReady, oldestReadyMs: ready[0]?.markerMtimeMs ?? null };
  }
}
