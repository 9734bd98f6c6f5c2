import { importJWK, SignJWT } from 'jose';
import { z } from 'zod';
import type { ClientService } from './clients.ts';
import type { Keystore } from './keys.ts';
import { type Outbox, PermanentFailure } from './outbox.ts';
import type { OidcPayloadRepository } from './ports/oidc-payloads.ts';
import type { BackchannelLogoutEvent, SecurityEventInput } from './security-events.ts';

/** OpenID Connect Back-Channel Logout 1.0 §2.4: the event a logout token carries. */
const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** A logout token is valid this long: long enough for clock skew, short enough to be useless later. */
const LOGOUT_TOKEN_TTL_SECONDS = 120;

/** The outbox kind of a logout token delivery. */
export const BACKCHANNEL_LOGOUT_KIND = 'backchannel_logout';

/**
 * Attempts before a delivery is given up: with the outbox's backoff (5 s doubling, up to 15
 * minutes, jittered) the first retries come within a minute (a client restarting) and the last
 * up to about an hour after the session ended.
 */
const MAX_ATTEMPTS = 12;

/**
 * Posts a logout token to a client's `backchannel_logout_uri` (the outbound-fetch rules, a time
 * limit, no redirects followed); resolves with the status, rejects when no answer came.
 */
export type LogoutTokenPoster = (uri: string, logoutToken: string) => Promise<number>;

export interface BackchannelLogout {
  /** a session ended for one client (sign-out at end_session): queue its logout token */
  notify(clientId: string, subject: string, sid: string | undefined): Promise<void>;
  /** every session of the account is ending (admin, password reset, disabled): call before they are removed */
  sessionsEnding(accountId: string): Promise<void>;
}

type Signable = { kid?: string; alg?: string; kty?: string } & JsonWebKey;

/** The key for `alg`: the current one of its type (oidc-provider signs ID tokens the same way). */
function keyFor(keystore: Keystore, alg: string): { jwk: Signable; alg: string } {
  const wanted = alg === 'ES256' ? 'ES256' : alg === 'PS256' ? 'PS256' : 'RS256';
  const kty = wanted === 'ES256' ? 'EC' : 'RSA';
  const current = new Set(keystore.keys.filter((k) => k.state === 'active').map((k) => k.kid));
  const candidates = (keystore.privateJwks as Signable[]).filter((k) => k.kty === kty);
  const jwk = candidates.find((k) => k.kid !== undefined && current.has(k.kid)) ?? candidates[0];
  if (!jwk) throw new Error(`no ${kty} signing key`);
  return { jwk, alg: wanted };
}

/** What an outbox row of this kind holds: who and which session; the token is signed at each attempt. */
const Delivery = z.strictObject({
  clientId: z.string().min(1),
  subject: z.string().min(1),
  sid: z.string().min(1).nullable(),
});
type Delivery = z.infer<typeof Delivery>;

export function createBackchannelLogout(deps: {
  issuer: string;
  outbox: Pick<Outbox, 'register' | 'enqueue'>;
  /** where the sessions are, to find which clients an account's sessions reached */
  sessions: Pick<OidcPayloadRepository, 'sessionClientsOf'>;
  clients: Pick<ClientService, 'resolve'>;
  keystore: () => Keystore;
  post: LogoutTokenPoster;
  events: { record(event: SecurityEventInput): void };
}): BackchannelLogout {
  const { issuer, outbox, clients, post, events } = deps;

  /** the client's logout URI and signing algorithm, when it still wants to be told */
  const targetOf = async (clientId: string) => {
    const metadata = (await clients.resolve(clientId))?.providerMetadata;
    const uri = metadata?.backchannel_logout_uri;
    if (typeof uri !== 'string' || uri === '') return undefined;
    const alg = metadata?.id_token_signed_response_alg;
    return { uri, alg: typeof alg === 'string' ? alg : 'RS256' };
  };

  /** §2.4; the jti is the outbox row's id, the same on every attempt, so a client can drop repeats */
  const sign = async (d: Delivery, jti: string, alg: string) => {
    const key = keyFor(deps.keystore(), alg);
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
      ...(d.sid ? { sid: d.sid } : {}),
    })
      .setProtectedHeader({ alg: key.alg, typ: 'logout+jwt', ...(key.jwk.kid ? { kid: key.jwk.kid } : {}) })
      .setIssuer(issuer)
      .setSubject(d.subject)
      .setAudience(d.clientId)
      .setIssuedAt(now)
      .setExpirationTime(now + LOGOUT_TOKEN_TTL_SECONDS)
      .setJti(jti)
      .sign(await importJWK(key.jwk, key.alg));
  };

  const record = (type: BackchannelLogoutEvent, d: Delivery, attempt: number, error?: string) =>
    events.record({
      type,
      outcome: error === undefined ? 'success' : 'failure',
      subject: d.subject,
      clientId: d.clientId,
      details: { attempts: attempt, ...(error === undefined ? {} : { error }) },
    });

  outbox.register(BACKCHANNEL_LOGOUT_KIND, {
    async handle(payload, item) {
      const parsed = Delivery.safeParse(payload);
      if (!parsed.success) throw new PermanentFailure('not a back-channel logout delivery');
      const d = parsed.data;
      // the client was deleted or no longer asks: nothing to tell
      const target = await targetOf(d.clientId);
      if (!target) return;
      let error: string;
      try {
        const status = await post(target.uri, await sign(d, item.id, target.alg));
        // §2.8: 200 OK (or 204) is success; anything else is not
        if (status === 200 || status === 204) {
          record('backchannel_logout.delivered', d, item.attempt);
          return;
        }
        error = `answered ${status}`;
      } catch (err) {
        error = err instanceof Error ? `${err.name}: ${err.message}` : 'failed';
      }
      if (item.attempt >= MAX_ATTEMPTS) record('backchannel_logout.failed', d, item.attempt, error);
      throw new Error(error);
    },
    summary: (payload) => {
      const parsed = Delivery.safeParse(payload);
      return parsed.success ? parsed.data : {};
    },
  });

  const enqueue = (d: Delivery) => outbox.enqueue(BACKCHANNEL_LOGOUT_KIND, d, { maxAttempts: MAX_ATTEMPTS });

  return {
    async notify(clientId, subject, sid) {
      if (!(await targetOf(clientId))) return;
      await enqueue({ clientId, subject, sid: sid ?? null });
    },
    async sessionsEnding(accountId) {
      for (const { clientId, sid } of await deps.sessions.sessionClientsOf(accountId)) {
        if (await targetOf(clientId)) await enqueue({ clientId, subject: accountId, sid });
      }
    },
  };
}
