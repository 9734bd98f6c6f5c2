import { createHash, randomUUID } from 'node:crypto';
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';

/** A DPoP key (RFC 9449) that makes proofs by hand, so tests can bend every field. */
export interface DpopKey {
  jwk: JWK;
  jkt: string;
  proof(
    method: string,
    url: string,
    extra?: { nonce?: string; accessToken?: string; iat?: number; jti?: string },
  ): Promise<string>;
}

export async function createDpopKey(): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = await exportJWK(publicKey);
  return {
    jwk,
    jkt: await calculateJwkThumbprint(jwk),
    proof: (method, url, extra = {}) => sign(privateKey, jwk, method, url, extra),
  };
}

function sign(
  key: CryptoKey,
  jwk: JWK,
  method: string,
  url: string,
  extra: { nonce?: string; accessToken?: string; iat?: number; jti?: string },
) {
  return new SignJWT({
    htm: method,
    htu: url,
    jti: extra.jti ?? randomUUID(),
    ...(extra.nonce ? { nonce: extra.nonce } : {}),
    ...(extra.accessToken ? { ath: createHash('sha256').update(extra.accessToken).digest('base64url') } : {}),
  })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk })
    .setIssuedAt(extra.iat ?? Math.floor(Date.now() / 1000))
    .sign(key);
}
