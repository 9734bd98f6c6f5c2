import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey, errors as joseErrors } from 'jose';

export interface KeyCacheOptions {
  /** seconds a fetched JWKS is used before it is fetched again (default 300); keep it below the issuer's publish-ahead time */
  cacheMaxAge?: number;
  /** a token with an unknown `kid` fetches the JWKS again at most once per this many seconds (default 10) */
  refetchInterval?: number;
  /** seconds the last good JWKS keeps verifying while the issuer cannot be reached (default 86400) */
  staleIfError?: number;
  /** milliseconds a JWKS request may take (default 5000) */
  timeout?: number;
}

/** The issuer's keys could not be fetched and none are cached (or the cached ones are too old). */
export class KeysUnavailableError extends Error {
  override name = 'KeysUnavailableError';
}

const MAX_JWKS_BYTES = 512 * 1024;
/** while the issuer is failing, it is asked again at most this often */
const ERROR_RETRY_MS = 1000;

/**
 * The issuer's JWKS, fetched once and cached. Fetched again when it is older than
 * `cacheMaxAge` (so new keys an issuer publishes ahead of use are seen before they sign), when a
 * token names an unknown `kid` (at most once per `refetchInterval`, so forged kids cannot make
 * us hammer the issuer), and never more than one request at a time. When the issuer cannot be
 * reached the last good JWKS keeps verifying for `staleIfError` seconds (RFC 5861's
 * stale-if-error): an issuer outage does not take the API down with it.
 */
export function remoteKeySet(url: URL, options: KeyCacheOptions = {}): JWTVerifyGetKey {
  const maxAgeMs = (options.cacheMaxAge ?? 300) * 1000;
  const refetchMs = (options.refetchInterval ?? 10) * 1000;
  const staleMs = (options.staleIfError ?? 86_400) * 1000;
  const timeout = options.timeout ?? 5000;
  let local: ReturnType<typeof createLocalJWKSet> | undefined;
  let fetchedAt = 0;
  let attemptedAt = 0;
  let failedAt = 0;
  let inflight: Promise<void> | undefined;

  const download = async (): Promise<JSONWebKeySet> => {
    const res = await fetch(url, {
      headers: { accept: 'application/json, application/jwk-set+json' },
      redirect: 'error',
      signal: AbortSignal.timeout(timeout),
    });
    if (res.status !== 200) throw new Error(`the JWKS endpoint answered ${res.status}`);
    if (Number(res.headers.get('content-length') ?? 0) > MAX_JWKS_BYTES) {
      await res.body?.cancel();
      throw new Error('the JWKS is too large');
    }
    const text = await res.text();
    if (text.length > MAX_JWKS_BYTES) throw new Error('the JWKS is too large');
    const jwks = JSON.parse(text) as JSONWebKeySet;
    if (!jwks || !Array.isArray(jwks.keys)) throw new Error('the JWKS has no keys array');
    return jwks;
  };

  const refresh = (): Promise<void> => {
    inflight ??= (async () => {
      attemptedAt = Date.now();
      try {
        local = createLocalJWKSet(await download());
        fetchedAt = Date.now();
        failedAt = 0;
      } catch (err) {
        failedAt = Date.now();
        // stale-if-error: keep the keys we have while they are not too old
        if (local === undefined || Date.now() - fetchedAt > staleMs) {
          local = undefined;
          throw new KeysUnavailableError(`the issuer's keys could not be fetched from ${url.href}`, { cause: err });
        }
      }
    })().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };

  return async (header, token) => {
    const now = Date.now();
    if (local === undefined || now - fetchedAt > maxAgeMs) {
      // while the issuer fails it is asked at most once per ERROR_RETRY_MS; in between, requests
      // get the stale keys (or, with none, an immediate answer) instead of another attempt
      if (failedAt === 0 || now - failedAt >= ERROR_RETRY_MS) await refresh();
      else if (local === undefined || now - fetchedAt > staleMs) {
        throw new KeysUnavailableError(`the issuer's keys could not be fetched from ${url.href}`);
      }
    }
    const keys = local as NonNullable<typeof local>;
    try {
      return await keys(header, token);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey) || Date.now() - attemptedAt < refetchMs) throw err;
      await refresh();
      return (local as NonNullable<typeof local>)(header, token);
    }
  };
}
