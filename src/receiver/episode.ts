// PUT /v1/episodes/{id}: stream the body to a temp file while hashing and validating it,
// then commit it atomically. The order of the checks is the order of the SPEC's answers:
// size (413, before a byte is read when Content-Length already says so), the digest
// header (400), the archive and its meta.json (400/412, as soon as known), the digest
// itself (400), then the store (201 new, 200 identical, 409 conflict).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { errnoOf, isDiskFull } from '../errors.js';
import { errorFields, type Fields, type Logger } from '../log/logger.js';
import { Refusal, sendJson, sendRefusal } from './answer.js';
import { discardRest } from './linger.js';
import { parseContentDigest, WANT_DIGEST, type DigestAlgorithm } from './digest.js';
import { checkMeta, needsMeta, type MetaPolicy } from './meta.js';
import type { EpisodeStore, TempFile } from './store.js';
import { receiveBody, UploadAborted, type Received } from './upload.js';
import { startVerification, type Verification } from './verify.js';

export interface EpisodeContext {
  readonly store: EpisodeStore;
  readonly maxBytes: number | null;
  readonly meta: MetaPolicy;
  readonly log: Logger;
  readonly zstd?: string;
}

export interface PutRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly id: string;
  readonly hostId: string;
  /** The client sent `Expect: 100-continue` and waits for our go. */
  readonly expectsContinue: boolean;
  /** Log fields naming the client (certificate CN and serial). */
  readonly who: Fields;
}

/** Answer a refusal while the body may still be arriving (see linger.ts). */
export function refuseEarly(req: IncomingMessage, res: ServerResponse, refusal: Refusal): void {
  req.unpipe();
  sendRefusal(res, refusal);
  discardRest(req);
}

function digestMismatch(expected: ReadonlyMap<DigestAlgorithm, Buffer>, got: Received): Refusal | null {
  for (const [alg, want] of expected) {
    const have = got.digests.get(alg);
    if (have && !have.equals(want)) {
      return new Refusal(400, 'digest_mismatch', `the body's ${alg} is :${have.toString('base64')}:, not the Content-Digest :${want.toString('base64')}:`, WANT_DIGEST);
    }
  }
  return null;
}

/** Handle one PUT; resolves once it is answered (or the client went away), never rejects. */
export async function putEpisode(p: PutRequest, ctx: EpisodeContext): Promise<void> {
  const { req, res, id, hostId } = p;
  const started = performance.now();
  const log = ctx.log.child({ host_id: hostId, id, ...p.who });
  const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']);
  let temp: TempFile | null = null;
  let verification: Verification | null = null;
  try {
    if (ctx.maxBytes !== null && declared !== null && declared > ctx.maxBytes) {
      throw new Refusal(413, 'too_large', `Content-Length ${declared} is larger than this receiver's limit of ${ctx.maxBytes} bytes`);
    }
    const { expected, ignored } = parseContentDigest(req.headers['content-digest']);
    if (ignored.length > 0) log.info('digest_ignored', { algorithms: ignored.join(',') });
    if (p.expectsContinue) res.writeContinue();

    temp = await ctx.store.createTemp(hostId, id);
    verification = startVerification({
      id,
      checkMeta: needsMeta(ctx.meta) ? (text) => checkMeta(id, text, ctx.meta) : null,
      ...(ctx.zstd !== undefined ? { zstd: ctx.zstd } : {}),
    });
    const rx = receiveBody(req, { file: temp.stream, verifier: verification.input, maxBytes: ctx.maxBytes, algorithms: [...expected.keys()] });
    void verification.verdict.then((v) => {
      if (!v.ok) rx.stop(v.refusal);
    });
    const got = await rx.done;
    const verdict = await verification.verdict;

    const mismatch = digestMismatch(expected, got);
    if (mismatch) throw mismatch;
    if (!verdict.ok) throw verdict.refusal;

    const sha256 = got.digests.get('sha-256')!;
    const outcome = await ctx.store.commit(temp, hostId, id, sha256, got.bytes);
    temp = null;
    const ms = Math.round(performance.now() - started);
    const fields = { bytes: got.bytes, sha256: sha256.toString('hex'), ms, entries: verdict.entries };
    if (outcome === 'conflict') {
      log.warn('episode_conflict', { status: 409, ...fields });
      throw new Refusal(409, 'conflict', `episode ${id} of ${hostId} is already stored with different contents`);
    }
    const status = outcome === 'created' ? 201 : 200;
    log.info(outcome === 'created' ? 'episode_stored' : 'episode_identical', { status, ...fields });
    sendJson(res, status, { ok: true, host_id: hostId, id, bytes: got.bytes, sha256: fields.sha256, stored: outcome === 'created' ? 'new' : 'existing' });
  } catch (err) {
    verification?.abort();
    if (temp) await ctx.store.discard(temp);
    const ms = Math.round(performance.now() - started);
    if (err instanceof Refusal) {
      if (err.status !== 409) log.warn('episode_refused', { status: err.status, error: err.code, detail: err.message, ms });
      refuseEarly(req, res, err);
    } else if (err instanceof UploadAborted) {
      log.warn('upload_aborted', { detail: err.message, ms });
      req.socket.destroy();
    } else {
      const full = isDiskFull(err);
      log.error('store_failed', { ...errorFields(err), errno: errnoOf(err), ms });
      refuseEarly(req, res, full
        ? new Refusal(507, 'insufficient_storage', 'the receiver is out of disk space; retry later')
        : new Refusal(500, 'internal', 'the receiver could not store the episode; see its log'));
    }
  }
}
