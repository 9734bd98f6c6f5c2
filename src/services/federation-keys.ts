import { createLocalJWKSet, type FlattenedJWSInput, type JSONWebKeySet, type JWSHeaderParameters } from 'jose';
import type { FederatedIssuerRecord } from './ports/federation.ts';

/**
 * Fetches an issuer's JWKS document (https only; private addresses only when the issuer allows
 * them; `ca` replaces the trusted roots). Implemented over the project's outbound fetch.
 */
export type FetchJwks = (
  url: string,
  options: { allowPrivateNetwork: boolean; ca: string | undefined; signal: AbortSignal },
) => Promise<unknown>;

export class JwksUnavailable extends Error {
  override name = 'JwksUnavailable';
}

/** How long one JWKS fetch may take. */
const FETCH_TIMEOUT_MS = 3000;
/** Fetched keys are used this long before they are fetched again. */
const MAX_AGE_MS = 10 * 60_000;
/** Keys whose refetch fails keep working this long (an issuer outage is not our outage). */
const STALE_MAX_MS = 60 * 60_000;
/** The most keys kept of one document; an issuer publishes a handful. */
const MAX_KEYS = 50;

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

/** A public, asymmetric key: RSA, EC or OKP, and nothing of a private or symmetric key. */
export function isPublicAsymmetricJwk(key: unknown): key is Record<string, unknown> {
  if (typeof key !== 'object' || key === null || Array.isArray(key)) return false;
  const jwk = key as Record<string, unknown>;
  if (!['RSA', 'EC', 'OKP'].includes(jwk.kty as string)) return false;
  return PRIVATE_MEMBERS.every((member) => !(member in jwk));
}

/** The usable keys of a JWKS document: public asymmetric ones, at most MAX_KEYS. */
function usableKeys(document: unknown): JSONWebKeySet {
  const keys = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new JwksUnavailable('the JWKS document has no keys array');
  return { keys: keys.filter(isPublicAsymmetricJwk).slice(0, MAX_KEYS) as JSONWebKeySet['keys'] };
}

type KeyLookup = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

interface Entry {
  /** the issuer's version this entry is for: a changed issuer starts over */
  version: number;
  lookup: ReturnType<typeof createLocalJWKSet> | undefined;
  fetchedAt: number;
  lastAttemptAt: number;
  inflight: Promise<void> | undefined;
}

/**
 * The keys of federated issuers. Keys by value are used as given. Keys by URL are fetched on
 * first use, used for MAX_AGE_MS, and fetched again early only when a token names a key the
 * document lacks (the issuer rotated) — at most once per `cooldownMs` per issuer, so a flood
 * of tokens with made-up `kid`s costs the issuer one request per cooldown, not one per token.
 * One fetch at a time per issuer; concurrent requests wait for it.
 */
export function createFederationKeys(deps: { fetchJwks: FetchJwks; cooldownMs: number; now?: () => number }) {
  const now = deps.now ?? Date.now;
  const entries = new Map<string, Entry>();

  const refresh = (issuer: FederatedIssuerRecord, entry: Entry): Promise<void> => {
    entry.inflight ??= (async () => {
      entry.lastAttemptAt = now();
      try {
        const document = await deps.fetchJwks(issuer.jwksUri ?? '', {
          allowPrivateNetwork: issuer.allowPrivateNetwork,
          ca: issuer.jwksCa ?? undefined,
          signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
        });
        entry.lookup = createLocalJWKSet(usableKeys(document));
        entry.fetchedAt = now();
      } catch (err) {
        throw err instanceof JwksUnavailable
          ? err
          : new JwksUnavailable('the JWKS could not be fetched', { cause: err });
      } finally {
        entry.inflight = undefined;
      }
    })();
    return entry.inflight;
  };

  const entryOf = (issuer: FederatedIssuerRecord): Entry => {
    const version = issuer.updatedAt.getTime();
    let entry = entries.get(issuer.id);
    if (!entry || entry.version !== version) {
      entry = { version, lookup: undefined, fetchedAt: 0, lastAttemptAt: 0, inflight: undefined };
      entries.set(issuer.id, entry);
    }
    return entry;
  };

  return {
    /** the key lookup jose's jwtVerify takes, for this issuer */
    async lookupFor(issuer: FederatedIssuerRecord): Promise<KeyLookup> {
      if (issuer.jwks) {
        const local = createLocalJWKSet(usableKeys(issuer.jwks));
        return async (header, token) => local(header, token);
      }
      const entry = entryOf(issuer);
      const age = now() - entry.fetchedAt;
      if (!entry.lookup || age > MAX_AGE_MS) {
        try {
          await refresh(issuer, entry);
        } catch (err) {
          // an issuer that is down: the keys we had keep working for a while
          if (!entry.lookup || age > STALE_MAX_MS) throw err;
        }
      }
      return async (header, token) => {
        try {
          return await (entry.lookup as NonNullable<Entry['lookup']>)(header, token);
        } catch (err) {
          if ((err as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw err;
          if (now() - entry.lastAttemptAt < deps.cooldownMs) throw err;
          await refresh(issuer, entry);
          return (entry.lookup as NonNullable<Entry['lookup']>)(header, token);
        }
      };
    },
    /** forgets an issuer's keys (it changed or was removed) */
    forget(issuerId: string) {
      entries.delete(issuerId);
    },
  };
}

export type FederationKeys = ReturnType<typeof createFederationKeys>;
