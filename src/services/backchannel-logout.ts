import { importJWK, SignJWT } from 'jose';
import type { Logger } from '../logger.ts';
import type { ClientService } from './clients.ts';
import type { Keystore } from './keys.ts';
import type { BackchannelLogoutRepository } from './ports/backchannel-logouts.ts';
import type { OidcPayloadRepository } from './ports/oidc-payloads.ts';
import type { BackchannelLogoutEvent, SecurityEventInput } from './security-events.ts';

/** OpenID Connect Back-Channel Logout 1.0 §2.4: the event a logout token carries. */
const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** A logout token is valid this long: long enough for clock skew, short enough to be useless later. */
const LOGOUT_TOKEN_TTL_SECONDS = 120;

/**
 * When a delivery that was not answered with 200 or 204 is tried again, after the attempt
 * numbered by the index: the first retries within a minute (a client restarting), then
 * spaced out over about ten hours; after the last, the delivery is given up.
 */
const RETRY_DELAYS_SECONDS = [5, 15, 60, 300, 900, 3600, 3 * 3600, 6 * 3600] as const;

/** How many due deliveries one run takes, and how long they are leased to it. */
const CLAIM_BATCH = 20;
const LEASE_MS = 60_000;

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
  /** delivers what is due; @returns how many were settled (delivered or given up) */
  deliverDue(now?: Date): Promise<number>;
  /** from the job timer: one run at a time, and one more right after when asked meanwhile */
  kick(): void;
  /** no more runs; resolves when the one under way has ended */
  stop(): Promise<void>;
}

type Signable = { kid?: string; alg?: string; kty?: string } & JsonWebKey;

/** The key for `alg`: the current one of its type (oidc-provider signs ID tokens the same way). */
function keyFor(keystore: Keystore, alg: string): { jwk: Signable; alg: string } {
  const wanted = alg === 'ES256' ? 'ES256' : alg === 'PS256' ? 'PS256' : 'RS256';
  const kty = wanted === 'ES256' ? 'EC' : 'RSA';
  const current = new Set(keystore.keys.filter((k) => k.current).map((k) => k.kid));
  const candidates = (keystore.privateJwks as Signable[]).filter((k) => k.kty === kty);
  const jwk = candidates.find((k) => k.kid !== undefined && current.has(k.kid)) ?? candidates[0];
  if (!jwk) throw new Error(`no ${kty} signing key`);
  return { jwk, alg: wanted };
}

export function createBackchannelLogout(deps: {
  issuer: string;
  repo: BackchannelLogoutRepository;
  /** where the sessions are, to find which clients an account's sessions reached */
  sessions: Pick<OidcPayloadRepository, 'sessionClientsOf'>;
  clients: Pick<ClientService, 'resolve'>;
  keystore: () => Keystore;
  post: LogoutTokenPoster;
  events: { record(event: SecurityEventInput): void };
  log: Logger;
}): BackchannelLogout {
  const { issuer, repo, clients, post, events, log } = deps;

  /** the client's logout URI and signing algorithm, when it still wants to be told */
  const targetOf = async (clientId: string) => {
    const metadata = (await clients.resolve(clientId))?.providerMetadata;
    const uri = metadata?.backchannel_logout_uri;
    if (typeof uri !== 'string' || uri === '') return undefined;
    const alg = metadata?.id_token_signed_response_alg;
    return { uri, alg: typeof alg === 'string' ? alg : 'RS256' };
  };

  /** §2.4; the jti is the delivery's id, the same on every attempt, so a client can drop repeats */
  const sign = async (clientId: string, subject: string, sid: string | null, jti: string, alg: string) => {
    const key = keyFor(deps.keystore(), alg);
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
      ...(sid ? { sid } : {}),
    })
      .setProtectedHeader({ alg: key.alg, typ: 'logout+jwt', ...(key.jwk.kid ? { kid: key.jwk.kid } : {}) })
      .setIssuer(issuer)
      .setSubject(subject)
      .setAudience(clientId)
      .setIssuedAt(now)
      .setExpirationTime(now + LOGOUT_TOKEN_TTL_SECONDS)
      .setJti(jti)
      .sign(await importJWK(key.jwk, key.alg));
  };

  const record = (type: BackchannelLogoutEvent, outcome: 'success' | 'failure', d: Record<string, unknown>) =>
    events.record({
      type,
      outcome,
      subject: d.subject as string,
      clientId: d.clientId as string,
      details: { attempts: d.attempts, ...(d.error ? { error: d.error } : {}) },
    });

  const deliverDue: BackchannelLogout['deliverDue'] = async (now = new Date()) => {
    const due = await repo.claimDue(now, CLAIM_BATCH, LEASE_MS);
    let settled = 0;
    await Promise.all(
      due.map(async (item) => {
        const attempts = item.attempts + 1;
        let error: string;
        try {
          const target = await targetOf(item.clientId);
          // the client was deleted or no longer asks: nothing to tell
          if (!target) {
            await repo.delivered(item.id);
            settled++;
            return;
          }
          const token = await sign(item.clientId, item.subject, item.sid, item.id, target.alg);
          const status = await post(target.uri, token);
          // §2.8: 200 OK (or 204) is success; anything else is not
          if (status === 200 || status === 204) {
            await repo.delivered(item.id);
            record('backchannel_logout.delivered', 'success', { ...item, attempts });
            settled++;
            return;
          }
          error = `answered ${status}`;
        } catch (err) {
          error = err instanceof Error ? `${err.name}: ${err.message}` : 'failed';
        }
        const delay = RETRY_DELAYS_SECONDS[attempts - 1];
        log.warn({ clientId: item.clientId, attempts, error }, 'back-channel logout not delivered');
        if (delay === undefined) {
          await repo.failed(item.id, attempts, error);
          record('backchannel_logout.failed', 'failure', { ...item, attempts, error });
          settled++;
        } else {
          await repo.retryAt(item.id, attempts, new Date(Date.now() + delay * 1000), error);
        }
      }),
    );
    return settled;
  };

  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  const kick = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        await deliverDue().catch((err: unknown) => log.warn({ err }, 'back-channel logout run failed'));
      } while (again && !stopped);
    })().finally(() => {
      running = undefined;
    });
  };

  return {
    async notify(clientId, subject, sid) {
      if (!(await targetOf(clientId))) return;
      await repo.enqueue([{ clientId, subject, sid: sid ?? null }]);
      kick();
    },
    async sessionsEnding(accountId) {
      const found = await deps.sessions.sessionClientsOf(accountId);
      const wanted: { clientId: string; subject: string; sid: string | null }[] = [];
      for (const { clientId, sid } of found) {
        if (await targetOf(clientId)) wanted.push({ clientId, subject: accountId, sid });
      }
      if (wanted.length === 0) return;
      await repo.enqueue(wanted);
      kick();
    },
    deliverDue,
    kick,
    async stop() {
      stopped = true;
      await running;
    },
  };
}
