import { randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import { conflict, invalidField, notFound, stale } from '../errors.ts';
import { type CacheBus, followTopic, STALE_IF_ERROR_MS, TtlCache } from './cache.ts';
import { type FederationKeys, JwksUnavailable } from './federation-keys.ts';
import { unlessTaken } from './ports/errors.ts';
import type {
  FederatedIssuerRecord,
  FederatedIssuerWrite,
  FederatedSubject,
  FederationRepository,
} from './ports/federation.ts';

/** RFC 7523 §2.2: the client assertion type of a JWT that authenticates a client. */
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Asymmetric algorithms only: never `none`, never HS* (a shared key would be a shared secret). */
const FEDERATED_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

/** The longest an assertion may live (exp - iat, or exp - now without iat). */
const MAX_ASSERTION_LIFETIME_S = 3600;
/** Clock skew allowed on exp, nbf and iat. */
const CLOCK_SKEW_S = 30;
/** Platform tokens are a kilobyte or two; anything far larger is not one. */
const MAX_ASSERTION_LENGTH = 16 * 1024;

/** Why an assertion was refused: recorded in the `client.auth_failed` event, never sent to the caller. */
export type RefusalReason =
  | 'malformed'
  | 'unknown_issuer'
  | 'algorithm_not_allowed'
  | 'unknown_key'
  | 'bad_signature'
  | 'jwks_unavailable'
  | 'wrong_audience'
  | 'expired'
  | 'not_yet_valid'
  | 'issued_in_future'
  | 'lifetime_too_long'
  | 'missing_claim'
  | 'unbound_subject'
  | 'client_mismatch';

export type AssertionResult =
  | { ok: true; clientId: string; issuer: string; subject: string }
  | { ok: false; reason: RefusalReason; issuer?: string | undefined; subject?: string | undefined };

export interface IssuerInput {
  issuer: string;
  jwksUri?: string | null | undefined;
  jwks?: { keys: Record<string, unknown>[] } | null | undefined;
  jwksCa?: string | null | undefined;
  audience: string;
  allowPrivateNetwork?: boolean | undefined;
}

export interface FederationService {
  listIssuers(options: { after?: string | undefined; limit: number }): Promise<FederatedIssuerRecord[]>;
  getIssuer(id: string): Promise<FederatedIssuerRecord>;
  createIssuer(input: IssuerInput): Promise<FederatedIssuerRecord>;
  updateIssuer(id: string, changes: Partial<IssuerInput>, expected?: Date): Promise<FederatedIssuerRecord>;
  deleteIssuer(id: string): Promise<void>;
  subjectsOf(clientId: string): Promise<FederatedSubject[]>;
  /** 400 for an issuer not registered, 409 for a subject bound to another client */
  checkSubjects(clientId: string, subjects: readonly FederatedSubject[]): Promise<void>;
  bind(clientId: string, subjects: readonly FederatedSubject[]): Promise<void>;
  /** verifies a platform's JWT and finds the client bound to its (iss, sub) */
  verifyAssertion(assertion: string, clientId: string | undefined): Promise<AssertionResult>;
  /**
   * A proof, good for one request in this process only, that `clientId` was authenticated by
   * an assertion: the token endpoint then authenticates the client with it (see ADR 0017).
   */
  issueProof(clientId: string): { proof: string; release(): void };
  acceptsProof(clientId: unknown, presented: unknown): boolean;
}

const refused = (reason: RefusalReason, issuer?: string, subject?: string): AssertionResult => ({
  ok: false,
  reason,
  issuer,
  subject,
});

function audienceMatches(aud: unknown, expected: string): boolean {
  // exactly that audience: a token meant for several parties is not one meant for us
  if (typeof aud === 'string') return aud === expected;
  return Array.isArray(aud) && aud.length === 1 && aud[0] === expected;
}

function reasonOf(err: unknown): RefusalReason {
  if (err instanceof JwksUnavailable) return 'jwks_unavailable';
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'not_yet_valid';
    if (err.claim === 'iat') return 'issued_in_future';
    return 'missing_claim';
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm_not_allowed';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'unknown_key';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad_signature';
  return 'malformed';
}

export function createFederationService(deps: {
  repo: FederationRepository;
  bus: CacheBus;
  keys: FederationKeys;
}): FederationService {
  const { repo, bus, keys } = deps;
  const issuers = new TtlCache<FederatedIssuerRecord | null>({
    ttlMs: 60_000,
    max: 1000,
    staleIfErrorMs: STALE_IF_ERROR_MS,
  });
  const bindings = new TtlCache<string | null>({ ttlMs: 60_000, max: 10_000, staleIfErrorMs: STALE_IF_ERROR_MS });
  followTopic(bus, 'federation', issuers);
  followTopic(bus, 'federation', bindings);
  // a client deleted and made again under its id must not inherit the old one's bindings
  bus.subscribe((event) => {
    if (event !== 'all' && event.topic === 'client') bindings.invalidateAll();
  });
  const changed = () => bus.publish({ topic: 'federation' });
  const proofs = new Map<string, string>();

  const issuerOf = async (iss: string) =>
    (await issuers.getOrLoad(iss, async () => (await repo.findIssuerByUrl(iss)) ?? null)) ?? undefined;

  const getIssuer = async (id: string) => {
    const found = await repo.findIssuer(id);
    if (!found) throw notFound('federated issuer');
    return found;
  };

  /** exactly one way to the keys */
  const checkKeys = (value: {
    jwksUri: string | null;
    jwks: unknown;
    jwksCa: string | null;
    allowPrivateNetwork: boolean;
  }) => {
    if ((value.jwksUri === null) === (value.jwks === null)) {
      throw invalidField('jwksUri', 'give either jwksUri or jwks, not both and not neither');
    }
    if (value.jwksUri === null && value.jwksCa !== null) throw invalidField('jwksCa', 'jwksCa is for keys by jwksUri');
    if (value.jwksUri === null && value.allowPrivateNetwork) {
      throw invalidField('allowPrivateNetwork', 'allowPrivateNetwork is for keys by jwksUri');
    }
  };

  return {
    listIssuers: (options) => repo.listIssuers(options),
    getIssuer,
    async createIssuer(input) {
      const record: FederatedIssuerWrite = {
        id: randomUUID().replaceAll('-', ''),
        issuer: input.issuer,
        jwksUri: input.jwksUri ?? null,
        jwks: input.jwks ?? null,
        jwksCa: input.jwksCa ?? null,
        audience: input.audience,
        allowPrivateNetwork: input.allowPrivateNetwork ?? false,
      };
      checkKeys(record);
      const created = await unlessTaken(repo.createIssuer(record), () =>
        conflict(`the issuer ${input.issuer} is registered already`),
      );
      await changed();
      return created;
    },
    async updateIssuer(id, changes, expected) {
      const current = await getIssuer(id);
      const next = {
        jwksUri: changes.jwksUri === undefined ? current.jwksUri : changes.jwksUri,
        jwks: changes.jwks === undefined ? current.jwks : changes.jwks,
        jwksCa: changes.jwksCa === undefined ? current.jwksCa : changes.jwksCa,
        allowPrivateNetwork: changes.allowPrivateNetwork ?? current.allowPrivateNetwork,
      };
      // giving one way to the keys replaces the other
      if (changes.jwksUri && changes.jwks === undefined) next.jwks = null;
      if (changes.jwks && changes.jwksUri === undefined) {
        next.jwksUri = null;
        if (changes.jwksCa === undefined) next.jwksCa = null;
        if (changes.allowPrivateNetwork === undefined) next.allowPrivateNetwork = false;
      }
      checkKeys(next);
      const updated = await unlessTaken(
        repo.updateIssuer(
          id,
          {
            ...next,
            ...(changes.issuer === undefined ? {} : { issuer: changes.issuer }),
            ...(changes.audience === undefined ? {} : { audience: changes.audience }),
          },
          expected,
        ),
        () => conflict(`the issuer ${changes.issuer} is registered already`),
      );
      if (updated === 'stale') throw stale();
      if (!updated) throw notFound('federated issuer');
      keys.forget(id);
      await changed();
      return updated;
    },
    async deleteIssuer(id) {
      if (!(await repo.deleteIssuer(id))) throw notFound('federated issuer');
      keys.forget(id);
      await changed();
    },
    subjectsOf: (clientId) => repo.subjectsOf(clientId),
    async checkSubjects(clientId, subjects) {
      const seen = new Set<string>();
      for (const [i, s] of subjects.entries()) {
        const key = `${s.issuer}\n${s.subject}`;
        if (seen.has(key)) throw invalidField(`federatedSubjects.${i}`, 'is listed twice');
        seen.add(key);
        if (!(await repo.findIssuerByUrl(s.issuer))) {
          throw invalidField(`federatedSubjects.${i}.issuer`, 'is not a registered federated issuer');
        }
        const bound = await repo.clientOf(s.issuer, s.subject);
        if (bound !== undefined && bound !== clientId) {
          throw conflict('this subject is bound to another client', [
            { field: `federatedSubjects.${i}`, message: 'is bound to another client' },
          ]);
        }
      }
    },
    async bind(clientId, subjects) {
      await unlessTaken(repo.bind(clientId, subjects), () => conflict('a subject is bound to another client'));
      await changed();
    },
    async verifyAssertion(assertion, clientId) {
      if (assertion.length > MAX_ASSERTION_LENGTH) return refused('malformed');
      let claims: ReturnType<typeof decodeJwt>;
      let alg: unknown;
      try {
        claims = decodeJwt(assertion);
        alg = decodeProtectedHeader(assertion).alg;
      } catch {
        return refused('malformed');
      }
      const iss = typeof claims.iss === 'string' ? claims.iss : undefined;
      const sub = typeof claims.sub === 'string' ? claims.sub : undefined;
      const issuer = iss === undefined ? undefined : await issuerOf(iss);
      if (!issuer) return refused('unknown_issuer', iss, sub);
      if (typeof alg !== 'string' || !FEDERATED_ALGORITHMS.includes(alg)) {
        return refused('algorithm_not_allowed', iss, sub);
      }
      let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
      try {
        const lookup = await keys.lookupFor(issuer);
        ({ payload } = await jwtVerify(assertion, lookup, {
          algorithms: FEDERATED_ALGORITHMS,
          issuer: issuer.issuer,
          clockTolerance: CLOCK_SKEW_S,
          requiredClaims: ['exp', 'sub'],
        }));
      } catch (err) {
        return refused(reasonOf(err), iss, sub);
      }
      if (!audienceMatches(payload.aud, issuer.audience)) return refused('wrong_audience', iss, sub);
      const now = Math.floor(Date.now() / 1000);
      const exp = payload.exp as number;
      if (payload.iat !== undefined) {
        if (payload.iat > now + CLOCK_SKEW_S) return refused('issued_in_future', iss, sub);
        if (exp - payload.iat > MAX_ASSERTION_LIFETIME_S) return refused('lifetime_too_long', iss, sub);
      } else if (exp - now > MAX_ASSERTION_LIFETIME_S) {
        return refused('lifetime_too_long', iss, sub);
      }
      const subject = payload.sub as string;
      // no jti check: a platform hands the same token to every call until it expires
      const bound =
        (await bindings.getOrLoad(
          `${issuer.issuer}\n${subject}`,
          async () => (await repo.clientOf(issuer.issuer, subject)) ?? null,
        )) ?? undefined;
      if (bound === undefined) return refused('unbound_subject', iss, subject);
      if (clientId !== undefined && clientId !== bound) return refused('client_mismatch', iss, subject);
      return { ok: true, clientId: bound, issuer: issuer.issuer, subject };
    },
    issueProof(clientId) {
      const proof = randomBytes(32).toString('base64url');
      proofs.set(proof, clientId);
      return { proof, release: () => proofs.delete(proof) };
    },
    acceptsProof(clientId, presented) {
      return typeof presented === 'string' && typeof clientId === 'string' && proofs.get(presented) === clientId;
    },
  };
}
