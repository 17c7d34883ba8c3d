// Bearer tokens, on top of the client certificate the TLS layer already required. Tokens
// are compared as sha-256 digests with timingSafeEqual, against every accepted token
// without an early exit, so neither the length nor the position of a match leaks.

import { createHash, timingSafeEqual } from 'node:crypto';
import { Refusal } from './answer.js';

export interface TokenCheck {
  /** null: the token is accepted (or none is required). */
  check(authorization: string | undefined): Refusal | null;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** A check that accepts any of `tokens`; with `null`, no token is required. */
export function bearerCheck(tokens: readonly string[] | null): TokenCheck {
  if (tokens === null) return { check: () => null };
  const accepted = tokens.map(digest);
  return {
    check(authorization) {
      const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
      if (!m) {
        return new Refusal(401, 'token_required', 'this receiver requires Authorization: Bearer <token>', {
          'www-authenticate': 'Bearer realm="shipper-receiver"',
        });
      }
      const offered = digest(m[1]!);
      let ok = false;
      for (const a of accepted) ok = timingSafeEqual(a, offered) || ok;
      return ok ? null : new Refusal(403, 'token_rejected', 'the bearer token is not one this receiver accepts');
    },
  };
}
