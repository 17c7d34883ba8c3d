// The receiver's URL space (API v1). Routing comes before authentication: a wrong URL is
// answered 404/405 whoever asks, which is what tells a shipper "misrouted" apart from "auth".

import { HOST_ID_RE } from '../config/schema.js';
import { Refusal } from './answer.js';

export type Route = { readonly name: 'ping' } | { readonly name: 'episode'; readonly id: string };

export const EPISODE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const EPISODE_PREFIX = '/v1/episodes/';

/** The route for `method` and `url`, or a 404/405/400 Refusal. */
export function route(method: string | undefined, url: string | undefined): Route | Refusal {
  const path = (url ?? '/').split('?')[0]!;
  if (path === '/v1/ping') {
    if (method !== 'POST') return new Refusal(405, 'method_not_allowed', `${path} only takes POST`, { allow: 'POST' });
    return { name: 'ping' };
  }
  if (path.startsWith(EPISODE_PREFIX) && path.length > EPISODE_PREFIX.length) {
    if (method !== 'PUT') return new Refusal(405, 'method_not_allowed', `${EPISODE_PREFIX}{id} only takes PUT`, { allow: 'PUT' });
    let id: string;
    try {
      id = decodeURIComponent(path.slice(EPISODE_PREFIX.length));
    } catch {
      id = '';
    }
    if (!EPISODE_ID_RE.test(id)) {
      return new Refusal(400, 'invalid_episode_id', 'the episode id must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}');
    }
    return { name: 'episode', id };
  }
  return new Refusal(404, 'not_found', 'this receiver serves POST /v1/ping and PUT /v1/episodes/{id}');
}

/** The `X-Shipper-Host` header, checked; a 400 Refusal when missing or malformed. */
export function hostIdOf(header: string | string[] | undefined): string | Refusal {
  if (typeof header !== 'string' || header === '') {
    return new Refusal(400, 'invalid_host_id', 'the X-Shipper-Host header is missing');
  }
  if (!HOST_ID_RE.test(header)) {
    return new Refusal(400, 'invalid_host_id', 'X-Shipper-Host must match [a-z0-9][a-z0-9._-]{0,62}');
  }
  return header;
}
