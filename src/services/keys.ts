import { createHash, generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import type { Logger } from '../logger.ts';
import type { NewSigningKey, SigningKeyRecord, SigningKeyRepository } from './ports/signing-keys.ts';
import { seal, unseal } from './secrets.ts';

/** ES256 signs access tokens; RS256 signs ID tokens (OpenID Connect's default algorithm). */
const SIGNING_ALGS = ['ES256', 'RS256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

/**
 * A retired key stays published until every token it signed has expired: the longest token
 * lifetime this server allows (an API's access tokens, at most 24 h) plus clock tolerance.
 */
const RETIRED_KEY_RETENTION_SECONDS = 24 * 60 * 60 + 5 * 60;

export interface Keystore {
  /** private JWKs for oidc-provider, current keys first */
  readonly privateJwks: JsonWebKey[];
  /** what /jwks publishes */
  readonly publicJwks: JsonWebKey[];
  readonly keys: readonly { kid: string; alg: string; current: boolean; createdAt: Date; expiresAt: Date | null }[];
}

export interface KeyService {
  /** creates the current keys on first start (safe when several instances start at once) */
  ensure(): Promise<void>;
  /** makes new keys current; the previous ones keep verifying until they expire */
  rotate(): Promise<string[]>;
  load(): Promise<Keystore>;
  /** the keys' public facts, without decrypting any private key */
  list(): Promise<Keystore['keys']>;
  deleteExpired(): Promise<number>;
}

/** RFC 7638 thumbprint, used as the kid so a key names itself. */
function thumbprint(jwk: JsonWebKey): string {
  const members =
    jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

function generate(alg: SigningAlg, encryptionKey: Buffer): NewSigningKey {
  const { privateKey } =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const kid = thumbprint(jwk);
  const publicJwk: Record<string, unknown> =
    alg === 'ES256'
      ? { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y, kid, alg, use: 'sig' }
      : { kty: 'RSA', n: jwk.n, e: jwk.e, kid, alg, use: 'sig' };
  return {
    kid,
    alg,
    publicJwk,
    privateJwk: seal(JSON.stringify({ ...jwk, kid, alg, use: 'sig' }), encryptionKey, kid),
  };
}

/** Current keys first: oidc-provider signs with the first key that fits the algorithm. */
const currentFirst = (records: SigningKeyRecord[]) =>
  records.sort((a, b) => Number(a.retiredAt !== null) - Number(b.retiredAt !== null));

const describe = (records: SigningKeyRecord[]) =>
  records.map((r) => ({
    kid: r.kid,
    alg: r.alg,
    current: r.retiredAt === null,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
  }));

export function createKeyService(deps: {
  repo: SigningKeyRepository;
  encryptionKey: Buffer;
  log: Logger;
  now?: () => Date;
}): KeyService {
  const { repo, encryptionKey, log } = deps;
  const now = deps.now ?? (() => new Date());

  const missing = (usable: SigningKeyRecord[]) =>
    SIGNING_ALGS.filter((alg) => !usable.some((k) => k.alg === alg && k.retiredAt === null));

  return {
    async ensure() {
      const created = await repo.replaceCurrent(now(), RETIRED_KEY_RETENTION_SECONDS, (usable) =>
        missing(usable).map((alg) => generate(alg, encryptionKey)),
      );
      for (const key of created) log.info({ kid: key.kid, alg: key.alg }, 'signing key created');
    },
    async rotate() {
      const created = await repo.replaceCurrent(now(), RETIRED_KEY_RETENTION_SECONDS, () =>
        SIGNING_ALGS.map((alg) => generate(alg, encryptionKey)),
      );
      for (const key of created) log.info({ kid: key.kid, alg: key.alg }, 'signing key rotated in');
      return created.map((k) => k.kid);
    },
    async list() {
      return describe(currentFirst(await repo.listUsable(now())));
    },
    async load() {
      const records = currentFirst(await repo.listUsable(now()));
      const privateJwks = records.map((record) => {
        try {
          return JSON.parse(unseal(record.privateJwk, encryptionKey, record.kid)) as JsonWebKey;
        } catch (err) {
          throw new Error(
            `signing key ${record.kid} cannot be decrypted: SECRETS_KEY differs from the one it was stored with`,
            { cause: err },
          );
        }
      });
      return {
        privateJwks,
        publicJwks: records.map((r) => r.publicJwk as JsonWebKey),
        keys: describe(records),
      };
    },
    deleteExpired() {
      return repo.deleteExpired(now());
    },
  };
}
