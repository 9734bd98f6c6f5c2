import Provider, { type Adapter, type AdapterPayload, errors } from 'oidc-provider';
import type { ClientService } from '../services/clients.ts';
import type { OidcPayloadRepository } from '../services/ports/oidc-payloads.ts';
import type { ReplayKeyRepository } from '../services/ports/replay-keys.ts';
import type { SessionService } from '../services/sessions.ts';
import type { InitialAccessTokenUses } from './registration.ts';
import { trackSessions } from './session-tracking.ts';

/**
 * oidc-provider's storage. Clients come from the clients table through the client service's
 * cache (one truth for the admin API and the provider, no round trip per token request);
 * every other model is a row in the one JSONB table. Clients are written by the admin API, and
 * by oidc-provider only for dynamic registration.
 */
export function createAdapterFactory(deps: {
  payloads: OidcPayloadRepository;
  clients: ClientService;
  initialAccessTokens: InitialAccessTokenUses;
  replay: ReplayKeyRepository;
  /** the sessions people see on /account (session-tracking.ts) */
  sessions: Pick<SessionService, 'seen'>;
  /** a model kept per interaction (by its uid) that ends when the interaction is given its result */
  endsWithInteraction?: string;
}) {
  const { payloads, clients, initialAccessTokens, replay } = deps;

  class ClientAdapter implements Adapter {
    async find(id: string): Promise<AdapterPayload | undefined> {
      return (await clients.resolve(id))?.providerMetadata as AdapterPayload | undefined;
    }
    // only dynamic registration (RFC 7591/7592) writes clients through the provider
    async upsert(id: string, payload: AdapterPayload): Promise<void> {
      // a registration (RFC 7591) spends a use of its initial access token, here where the
      // client is stored: after every check, and atomically, so parallel requests cannot share one
      const ctx = Provider.ctx;
      const iat = ctx?.oidc?.route === 'registration' ? ctx.oidc.entities.InitialAccessToken : undefined;
      if (iat && !(await initialAccessTokens.take(iat.jti))) {
        throw new errors.InvalidToken('initial access token has no registrations left');
      }
      await clients.saveRegistered(id, payload as Record<string, unknown>);
    }
    async findByUserCode(): Promise<undefined> {
      return undefined;
    }
    async findByUid(): Promise<undefined> {
      return undefined;
    }
    async consume(): Promise<void> {}
    async destroy(id: string): Promise<void> {
      await clients.delete(id).catch((err: unknown) => {
        if ((err as { status?: number }).status !== 404) throw err;
      });
    }
    async revokeByGrantId(): Promise<void> {}
  }

  /**
   * Rows read ahead for the request in progress (oidc-provider's `Provider.ctx`): an authorization
   * code is read with its grant and session, which the code exchange reads next (the session
   * binding, then the grant). Each is handed out once, to the read that follows in the same
   * request; any other read goes to the database.
   */
  const readAhead = new WeakMap<object, Map<string, AdapterPayload | undefined>>();
  const takeReadAhead = (key: string): { hit: boolean; payload?: AdapterPayload | undefined } => {
    const ctx = Provider.ctx;
    const rows = ctx && readAhead.get(ctx);
    if (!rows?.has(key)) return { hit: false };
    const payload = rows.get(key);
    rows.delete(key);
    return { hit: true, payload };
  };

  class PayloadAdapter implements Adapter {
    readonly model: string;
    constructor(model: string) {
      this.model = model;
    }
    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      // An interaction carrying a result (the sign-in pages' answer, or the resume's) is one read
      // from storage a moment before: written only if it still exists. Removed meanwhile (resumed
      // in another tab, or ended with its account's sessions), it must not come back to life.
      // Its sign-in steps are over: what was kept for them goes in the same statement.
      if (this.model === 'Interaction' && payload.result !== undefined) {
        const data = payload as Record<string, unknown>;
        if (!(await payloads.update(this.model, id, data, expiresIn, deps.endsWithInteraction))) {
          throw new errors.SessionNotFound('interaction session not found');
        }
        return;
      }
      await payloads.upsert(this.model, id, payload as Record<string, unknown>, expiresIn);
    }
    async find(id: string): Promise<AdapterPayload | undefined> {
      const ahead = takeReadAhead(`${this.model}:${id}`);
      if (ahead.hit) return ahead.payload;
      const ctx = Provider.ctx;
      if (this.model === 'AuthorizationCode' && ctx?.oidc?.route === 'token') {
        const found = await payloads.findWithGrantAndSession(this.model, id);
        if (!found) return undefined;
        const { grantId, sessionUid } = found.payload as { grantId?: unknown; sessionUid?: unknown };
        const rows = new Map<string, AdapterPayload | undefined>();
        if (typeof grantId === 'string') rows.set(`Grant:${grantId}`, found.grant as AdapterPayload | undefined);
        if (typeof sessionUid === 'string') {
          rows.set(`Session:uid:${sessionUid}`, found.session as AdapterPayload | undefined);
        }
        readAhead.set(ctx, rows);
        return found.payload as AdapterPayload;
      }
      return (await payloads.find(this.model, id)) as AdapterPayload | undefined;
    }
    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return (await payloads.findBy(this.model, 'userCode', userCode)) as AdapterPayload | undefined;
    }
    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const ahead = takeReadAhead(`${this.model}:uid:${uid}`);
      if (ahead.hit) return ahead.payload;
      return (await payloads.findBy(this.model, 'uid', uid)) as AdapterPayload | undefined;
    }
    async consume(id: string): Promise<void> {
      await payloads.consume(this.model, id);
    }
    async destroy(id: string): Promise<void> {
      await payloads.destroy(this.model, id);
    }
    async revokeByGrantId(grantId: string): Promise<void> {
      await payloads.revokeByGrantId(grantId);
    }
  }

  /**
   * oidc-provider's replay detection (DPoP proof ids, RFC 9449 §11.1; client assertion ids,
   * RFC 7523 §3) finds, then saves: two instances given the same value at once would both find
   * nothing and both accept it. Here the save is the atomic check, shared by every instance.
   */
  class ReplayDetectionAdapter implements Adapter {
    async upsert(id: string, _payload: AdapterPayload, expiresIn: number): Promise<void> {
      const now = Math.floor(Date.now() / 1000);
      if (!(await replay.firstUse(`oidc:${id}`, now + expiresIn))) {
        throw new errors.InvalidRequest('this proof or assertion was already used');
      }
    }
    async find(id: string): Promise<AdapterPayload | undefined> {
      const exp = await replay.expiryOf(`oidc:${id}`);
      // what oidc-provider needs to see a live entry: a replay, refused with its own error
      return exp === undefined
        ? undefined
        : { jti: id, kind: 'ReplayDetection', iat: Math.floor(Date.now() / 1000), exp };
    }
    async findByUserCode(): Promise<undefined> {
      return undefined;
    }
    async findByUid(): Promise<undefined> {
      return undefined;
    }
    async consume(): Promise<void> {}
    async destroy(): Promise<void> {}
    async revokeByGrantId(): Promise<void> {}
  }

  return function adapterFor(model: string): Adapter {
    if (model === 'ReplayDetection') return new ReplayDetectionAdapter();
    if (model === 'Session') return trackSessions(new PayloadAdapter(model), deps.sessions);
    return model === 'Client' ? new ClientAdapter() : new PayloadAdapter(model);
  };
}
