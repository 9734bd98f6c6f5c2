import { createHash, generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import type { Logger } from '../logger.ts';
import type { NewSigningKey, SigningKeyChanges, SigningKeyRecord, SigningKeyRepository } from './ports/signing-keys.ts';
import { seal, unseal } from './secrets.ts';

/** ES256 signs access tokens; RS256 signs ID tokens (OpenID Connect's default algorithm). */
const SIGNING_ALGS = ['ES256', 'RS256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

/**
 * Added to the longest token lifetime when a key is retired: instances switch keys by their own
 * clocks (and hear of an immediate rotation a moment later), and verifiers allow clock skew.
 */
const RETIREMENT_MARGIN_SECONDS = 5 * 60;

/**
 * - `pending`: published in the JWKS, signs nothing yet (until `activatesAt`);
 * - `active`: signs new tokens (one per algorithm);
 * - `retired`: signs nothing more, published until `expiresAt` for the tokens it signed.
 */
export type KeyState = 'pending' | 'active' | 'retired';

export interface KeyFacts {
  kid: string;
  alg: string;
  state: KeyState;
  createdAt: Date;
  activatesAt: Date;
  retiredAt: Date | null;
  expiresAt: Date | null;
}

export interface Keystore {
  /** private JWKs for oidc-provider: active keys first (it signs with the first that fits), then pending, then retired */
  readonly privateJwks: JsonWebKey[];
  /** what /jwks publishes: every key, pending and retired included */
  readonly publicJwks: JsonWebKey[];
  readonly keys: readonly KeyFacts[];
  /** the next time a key changes state or leaves the JWKS: the keystore must be loaded again then */
  readonly nextChange: Date | null;
}

export interface RotateOptions {
  /** sign with the new keys at once instead of after the publish-ahead time (a compromise) */
  immediate?: boolean;
  /** with `immediate`: remove every earlier key from the JWKS at once; tokens they signed stop verifying */
  withdraw?: boolean;
}

export interface Rotation {
  /** kids of the new keys, or of the pending keys already waiting (a rotation while one is pending changes nothing) */
  rotated: string[];
  /** when they sign */
  activatesAt: Date;
  /** kids removed from the JWKS at once */
  withdrawn: string[];
}

export interface KeyService {
  /** creates an active key of every algorithm on first start (safe when several instances start at once) */
  ensure(): Promise<void>;
  rotate(options?: RotateOptions): Promise<Rotation>;
  /** a scheduled rotation: rotates (ahead) when an active key is older than `days` and none is pending */
  rotateIfOlderThan(days: number): Promise<Rotation | undefined>;
  load(): Promise<Keystore>;
  /** the keys' public facts, without decrypting any private key */
  list(): Promise<readonly KeyFacts[]>;
  deleteExpired(): Promise<number>;
}

/** RFC 7638 thumbprint, used as the kid so a key names itself. */
function thumbprint(jwk: JsonWebKey): string {
  const members =
    jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

function generate(alg: SigningAlg, encryptionKey: Buffer, activatesAt: Date): NewSigningKey {
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
    activatesAt,
  };
}

/** A key's state at `now`, from its times alone: every instance with the same clock agrees. */
function stateAt(key: Pick<SigningKeyRecord, 'activatesAt' | 'retiredAt'>, now: Date): KeyState {
  if (key.activatesAt > now) return 'pending';
  if (key.retiredAt !== null && key.retiredAt <= now) return 'retired';
  return 'active';
}

const ORDER: Record<KeyState, number> = { active: 0, pending: 1, retired: 2 };

function describe(records: SigningKeyRecord[], now: Date): KeyFacts[] {
  return records
    .map((r) => ({
      kid: r.kid,
      alg: r.alg,
      state: stateAt(r, now),
      createdAt: r.createdAt,
      activatesAt: r.activatesAt,
      retiredAt: r.retiredAt,
      expiresAt: r.expiresAt,
    }))
    .sort((a, b) => ORDER[a.state] - ORDER[b.state]);
}

function nextChange(records: SigningKeyRecord[], now: Date): Date | null {
  const times = records
    .flatMap((r) => [r.activatesAt, r.retiredAt, r.expiresAt])
    .filter((t): t is Date => t !== null && t > now)
    .map((t) => t.getTime());
  return times.length > 0 ? new Date(Math.min(...times)) : null;
}

const NO_CHANGES: SigningKeyChanges = { create: [], retire: [], remove: [] };

export function createKeyService(deps: {
  repo: SigningKeyRepository;
  encryptionKey: Buffer;
  log: Logger;
  /** KEY_PUBLISH_AHEAD_SECONDS: how long a new key is published before it signs */
  publishAheadSeconds: number;
  /** the longest lifetime, in seconds, of any token a key signs (ID tokens, access tokens of every API) */
  longestTokenLifetime: () => Promise<number>;
  now?: () => Date;
}): KeyService {
  const { repo, encryptionKey, log } = deps;
  const now = deps.now ?? (() => new Date());

  /** the changes of a rotation at `at`, for every algorithm */
  const planRotation = (
    usable: SigningKeyRecord[],
    at: Date,
    options: RotateOptions,
    retentionSeconds: number,
  ): SigningKeyChanges & { activatesAt: Date } => {
    const changes: SigningKeyChanges = { create: [], retire: [], remove: [] };
    const immediate = options.immediate === true || options.withdraw === true || deps.publishAheadSeconds === 0;
    const activatesAt = immediate ? at : new Date(at.getTime() + deps.publishAheadSeconds * 1000);
    for (const alg of SIGNING_ALGS) {
      const mine = usable.filter((k) => k.alg === alg);
      const pending = mine.filter((k) => stateAt(k, at) === 'pending');
      if (!immediate && pending.length > 0) continue; // already rotating: nothing more to publish
      // a pending key has signed nothing: an immediate rotation replaces it
      if (immediate) changes.remove.push(...pending.map((k) => k.kid));
      for (const key of mine) {
        if (pending.includes(key)) continue;
        if (options.withdraw) {
          changes.remove.push(key.kid);
        } else if (key.retiredAt === null || key.retiredAt > activatesAt) {
          const retiredAt = activatesAt;
          changes.retire.push({
            kid: key.kid,
            retiredAt,
            expiresAt: new Date(retiredAt.getTime() + retentionSeconds * 1000),
          });
        }
      }
      changes.create.push(generate(alg, encryptionKey, activatesAt));
    }
    return { ...changes, activatesAt };
  };

  const rotate = async (options: RotateOptions, olderThanDays?: number): Promise<Rotation | undefined> => {
    const at = now();
    const retention = (await deps.longestTokenLifetime()) + RETIREMENT_MARGIN_SECONDS;
    let waiting: SigningKeyRecord[] = [];
    let activatesAt = at;
    const changes = await repo.change(at, (usable) => {
      if (olderThanDays !== undefined) {
        const due = usable.some(
          (k) => stateAt(k, at) === 'active' && at.getTime() - k.activatesAt.getTime() >= olderThanDays * 86_400_000,
        );
        if (!due || usable.some((k) => stateAt(k, at) === 'pending')) return NO_CHANGES;
      }
      waiting = usable.filter((k) => stateAt(k, at) === 'pending');
      const plan = planRotation(usable, at, options, retention);
      activatesAt = plan.activatesAt;
      return plan;
    });
    if (olderThanDays !== undefined && changes.create.length === 0) return undefined;
    for (const key of changes.create) {
      log.info({ kid: key.kid, alg: key.alg, activatesAt: key.activatesAt }, 'signing key published');
    }
    if (changes.remove.length > 0) log.warn({ kids: changes.remove }, 'signing keys withdrawn from the JWKS');
    const created = new Set(changes.create.map((k) => k.alg));
    const stillWaiting = waiting.filter((k) => !created.has(k.alg) && !changes.remove.includes(k.kid));
    return {
      rotated: [...changes.create.map((k) => k.kid), ...stillWaiting.map((k) => k.kid)],
      activatesAt: stillWaiting[0]?.activatesAt ?? activatesAt,
      withdrawn: changes.remove.filter((kid) => !waiting.some((k) => k.kid === kid)),
    };
  };

  return {
    async ensure() {
      const changes = await repo.change(now(), (usable) => {
        const at = now();
        const missing = SIGNING_ALGS.filter(
          (alg) => !usable.some((k) => k.alg === alg && (k.retiredAt === null || k.retiredAt > at)),
        );
        return { ...NO_CHANGES, create: missing.map((alg) => generate(alg, encryptionKey, at)) };
      });
      for (const key of changes.create) log.info({ kid: key.kid, alg: key.alg }, 'signing key created');
    },
    async rotate(options = {}) {
      return (await rotate(options)) as Rotation;
    },
    rotateIfOlderThan(days) {
      return rotate({}, days);
    },
    async list() {
      const at = now();
      return describe(await repo.listUsable(at), at);
    },
    async load() {
      const at = now();
      const records = await repo.listUsable(at);
      const facts = describe(records, at);
      const byKid = new Map(records.map((r) => [r.kid, r]));
      const ordered = facts.map((f) => byKid.get(f.kid) as SigningKeyRecord);
      const privateJwks = ordered.map((record) => {
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
        publicJwks: ordered.map((r) => r.publicJwk as JsonWebKey),
        keys: facts,
        nextChange: nextChange(records, at),
      };
    },
    deleteExpired() {
      return repo.deleteExpired(now());
    },
  };
}
