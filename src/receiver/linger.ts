// Answering before the body has arrived (413 from Content-Length, a bad archive noticed
// early, 401 on an upload) must not lose the answer: closing the socket with unread bytes
// makes the kernel send a reset, and a client still writing (undici, say) then sees EPIPE
// or ECONNRESET instead of our 413 — and takes a refusal of the episode for a network
// failure. So after such an answer the rest of the body is read and dropped for a short
// while; a client that keeps sending past that is cut off.

import type { IncomingMessage } from 'node:http';

export const LINGER_MS = 2_000;
export const LINGER_BYTES = 64 * 1024 * 1024;

/** Discard what is left of `req`'s body; close the connection past the linger limits. */
export function discardRest(req: IncomingMessage, limits: { ms: number; bytes: number } = { ms: LINGER_MS, bytes: LINGER_BYTES }): void {
  if (req.complete || req.destroyed) return;
  let seen = 0;
  const cut = () => {
    clearTimeout(timer);
    req.socket.destroy();
  };
  const timer = setTimeout(cut, limits.ms);
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > limits.bytes) cut();
  });
  // Only the end of the body clears the timer: Node may close `req` as soon as the answer
  // is sent, while the rest of the body is still on its way.
  req.once('end', () => clearTimeout(timer));
  req.resume();
}
