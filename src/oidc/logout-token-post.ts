import { isIP } from 'node:net';
import type { LogoutTokenPoster } from '../services/backchannel-logout.ts';
import { createOutboundFetch, type OutboundFetchOptions } from './outbound-fetch.ts';

/** A client has this long to answer a logout token (Back-Channel Logout 1.0 §2.8 wants it quick). */
const TIMEOUT_MS = 5000;
/** The answer's body is not used; a client may not make us read much of it. */
const MAX_RESPONSE_BYTES = 16 * 1024;

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1']);

/**
 * Posts logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.5): `application/x-www-form-urlencoded`
 * with `logout_token`, no redirects followed, a time limit and a size limit on the answer.
 * https URLs follow the outbound-fetch rules (public addresses only, checked after DNS);
 * http URLs are for development and reach only the loopback interface of this machine.
 */
export function createLogoutTokenPoster(
  options: Pick<OutboundFetchOptions, 'resolver' | 'ca'> = {},
): LogoutTokenPoster {
  const https = createOutboundFetch({ ...options, maxResponseBytes: MAX_RESPONSE_BYTES });
  return async (uri, logoutToken) => {
    const url = new URL(uri);
    const init = {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: '*/*' },
      body: new URLSearchParams({ logout_token: logoutToken }).toString(),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    };
    let response: Response;
    if (url.protocol === 'https:') {
      response = await https(url, init);
    } else {
      const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      // the client schema allows http only here; checked again, the metadata may predate the rule
      if (url.protocol !== 'http:' || !(LOOPBACK_NAMES.has(host) || (isIP(host) === 4 && host.startsWith('127.')))) {
        throw new Error('http logout URIs must be on localhost or loopback');
      }
      // localhost by address: no lookup that could answer otherwise
      if (host === 'localhost') url.hostname = '127.0.0.1';
      response = await fetch(url, { ...init, redirect: 'manual' });
    }
    // the status is all that counts; the body is let go without being read
    await response.body?.cancel().catch(() => {});
    return response.status;
  };
}
