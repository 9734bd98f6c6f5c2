import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose';

/** Remembers proof ids until they expire, so that a captured proof is good once (RFC 9449 §11.1). */
export interface ReplayCache {
  /** true the first time `key` is seen before `expiresAt` (epoch seconds), false on a replay */
  firstUse(key: string, expiresAt: number): boolean | Promise<boolean>;
}

/**
 * An in-process replay cache: enough for one instance. Several instances behind a load
 * balancer need a shared one (Redis `SET key 1 NX EXAT expiresAt` implements `firstUse`).
 * When full, it refuses new proofs rather than forget live ones (fails closed).
 */
export function memoryReplayCache(options: { max?: number } = {}): ReplayCache {
  const max = options.max ?? 100_000;
  const seen = new Map<string, number>();
  const prune = (now: number) => {
    for (const [key, expiresAt] of seen) if (expiresAt <= now) seen.delete(key);
  };
  return {
    firstUse(key, expiresAt) {
      const now = Math.floor(Date.now() / 1000);
      const known = seen.get(key);
      if (known !== undefined && known > now) return false;
      if (seen.size >= max) prune(now);
      if (seen.size >= max) return false;
      seen.set(key, expiresAt);
      return true;
    },
  };
}

export interface DpopCheck {
  /** the request method (`htm`) */
  method: string;
  /** the URL the client called, without query and fragment (`htu`) */
  url: string;
  /** the access token the proof must be bound to (`ath`) */
  accessToken: string;
  /** how old a proof may be, in seconds (default 60) */
  maxAge?: number | undefined;
  clockTolerance?: number | undefined;
  algorithms?: readonly string[] | undefined;
}

export interface DpopProof {
  /** RFC 7638 thumbprint of the proof's key: compared with the token's `cnf.jkt` */
  jkt: string;
  jti: string;
  iat: number;
}

export class DpopProofError extends Error {
  override name = 'DpopProofError';
}

export const DPOP_ALGORITHMS = ['ES256', 'EdDSA', 'Ed25519', 'PS256', 'RS256'] as const;

const stripQuery = (value: string) => {
  const url = URL.parse(value);
  if (!url) return undefined;
  url.search = '';
  url.hash = '';
  return url.href;
};

/**
 * RFC 9449 §4.3: a proof is a `dpop+jwt` signed by the public key in its header, for this
 * method and URL, recent, unique (`jti`), and bound to the presented access token (`ath`, §7).
 * The caller checks `jkt` against the token and `jti` against a replay cache.
 */
export async function verifyDpopProof(proof: string, check: DpopCheck): Promise<DpopProof> {
  let payload: Record<string, unknown>;
  let jwk: Record<string, unknown>;
  try {
    const verified = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: [...(check.algorithms ?? DPOP_ALGORITHMS)],
    });
    payload = verified.payload;
    jwk = (verified.protectedHeader.jwk ?? {}) as Record<string, unknown>;
  } catch {
    throw new DpopProofError('the DPoP proof is not a valid dpop+jwt');
  }
  // §4.3 check 7: the header must carry a public key only
  if ('d' in jwk || 'p' in jwk || 'k' in jwk) throw new DpopProofError('the DPoP proof key must be a public key');
  const { jti, iat, htm, htu, ath } = payload;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) {
    throw new DpopProofError('the DPoP proof needs a jti');
  }
  if (typeof iat !== 'number') throw new DpopProofError('the DPoP proof needs an iat');
  const now = Math.floor(Date.now() / 1000);
  const tolerance = check.clockTolerance ?? 5;
  if (iat > now + tolerance || iat < now - (check.maxAge ?? 60) - tolerance) {
    throw new DpopProofError('the DPoP proof is not recent');
  }
  if (htm !== check.method) throw new DpopProofError('the DPoP proof is for another method (htm)');
  if (typeof htu !== 'string' || stripQuery(htu) !== stripQuery(check.url)) {
    throw new DpopProofError('the DPoP proof is for another URL (htu)');
  }
  if (ath !== createHash('sha256').update(check.accessToken).digest('base64url')) {
    throw new DpopProofError('the DPoP proof is not bound to this access token (ath)');
  }
  return { jkt: await calculateJwkThumbprint(jwk as Parameters<typeof calculateJwkThumbprint>[0]), jti, iat };
}
