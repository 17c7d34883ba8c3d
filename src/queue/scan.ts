// The scan of episodes/: which folders are ready, which must go to quarantine without a
// round trip, and how many wait. It must stay cheap with 100 000 folders none of which is
// ready: one readdir with file types, then one stat of the marker per folder done
// synchronously in batches (a missing marker costs one syscall and no exception object),
// yielding to the event loop between batches.

import { readFileSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { fsError } from '../errors.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { joinBuf } from './atomic.js';
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
  /** meta.json verdicts by folder, keyed on the file's mtime and size. */
  #meta = new Map<string, { key: string; verdict: MetaVerdict }>();

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

  #metaVerdict(dir: Buffer, key: string): MetaVerdict | null {
    const path = Buffer.concat([dir, Buffer.from('/meta.json')]);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return null;
    const stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    const cached = this.#meta.get(key);
    if (cached && cached.key === stamp) return cached.verdict;
    let verdict: MetaVerdict;
    try {
      verdict = st.isFile() ? judgeMeta(readFileSync(path, 'utf8')) : { ok: false, detail: 'meta.json is not a regular file' };
    } catch (err) {
      verdict = { ok: false, detail: `meta.json cannot be read: ${err instanceof Error ? err.message : String(err)}` };
    }
    this.#meta.set(key, { key: stamp, verdict });
    return verdict;
  }

  /** One look at episodes/. `now` is epoch ms. */
  async scan(now: number): Promise<ScanResult> {
    const s = this.#s;
    let entries;
    try {
      entries = await readdir(s.episodes, { withFileTypes: true, encoding: 'buffer' });
    } catch (err) {
      throw fsError(`scan ${s.episodes}`, err);
    }
    const ready: ReadyEpisode[] = [];
    const rejects: LocalReject[] = [];
    let unsettled = 0;
    let notReady = 0;
    const seen = new Set<string>();
    const markerName = Buffer.from('/' + s.readyMarker);
    for (let i = 0; i < entries.length; i++) {
      if (i > 0 && i % BATCH === 0) await yieldLoop();
      const e = entries[i]!;
      const name = e.name as unknown as Buffer;
      if (name[0] === 0x2e) continue; // dot-names: a recorder's temp folders, and ours
      if (!e.isDirectory()) {
        this.#warnOnce(name, e.isSymbolicLink() ? 'a symbolic link (never followed)' : 'not a folder');
        continue;
      }
      const key = name.toString('latin1');
      seen.add(key);
      const dir = joinBuf(s.episodes, name);
      const marker = statSync(Buffer.concat([dir, markerName]), { throwIfNoEntry: false });
      const id = idOf(name);
      let settledAt: number;
      if (marker) {
        settledAt = marker.mtimeMs;
      } else if (id === null) {
        // A folder that is not an id is quarantined once it has not changed for settle_s,
        // marker or not: it would never be shipped, so waiting for a marker helps nobody.
        const st = statSync(dir, { throwIfNoEntry: false });
        if (!st) continue;
        settledAt = st.mtimeMs;
      } else {
        notReady++;
        continue;
      }
      if (now - settledAt < s.settleMs) {
        unsettled++;
        continue;
      }
      // A reason file in episodes/ means a quarantine was cut short: recovery finishes it.
      if (statSync(Buffer.concat([dir, Buffer.from('/' + REASON_FILE)]), { throwIfNoEntry: false })) continue;
      if (id === null) {
        rejects.push({ name, reason: 'invalid_episode_id', detail: `the folder name ${JSON.stringify(printable(name))} is not an episode id ([A-Za-z0-9][A-Za-z0-9._-]{0,127})` });
        continue;
      }
      const meta = this.#metaVerdict(dir, key);
      if (meta && !meta.ok) {
        rejects.push({ name, reason: 'invalid_meta', detail: meta.detail });
        continue;
      }
      if (s.requireCodeVersion && (meta === null || meta.commit === null)) {
        rejects.push({
          name,
          reason: 'unstamped',
          detail: meta === null ? 'no meta.json, and ship.require_code_version is set' : 'meta.json has no 40-hex code_version.commit, and ship.require_code_version is set',
        });
        continue;
      }
      ready.push({ id, name, markerMtimeMs: settledAt });
    }
    for (const k of this.#meta.keys()) if (!seen.has(k)) this.#meta.delete(k);
    ready.sort((a, b) => a.markerMtimeMs - b.markerMtimeMs || Buffer.compare(a.name, b.name));
    return { ready, rejects, unsettled, notReady, oldestReadyMs: ready[0]?.markerMtimeMs ?? null };
  }
}
