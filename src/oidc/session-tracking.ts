import Provider, { type Adapter, type AdapterPayload } from 'oidc-provider';
import type { SessionService } from '../services/sessions.ts';

/**
 * oidc-provider's Session storage, telling the session service when a signed-in session is
 * saved (it is, on every request through the authorization and end-session endpoints): that
 * makes the list of sessions on /account, with the address and browser of the request. The
 * service writes at most once a minute per session; the save itself is unchanged.
 */
export function trackSessions(inner: Adapter, sessions: Pick<SessionService, 'seen'>): Adapter {
  return {
    async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      await inner.upsert(id, payload, expiresIn);
      const { uid, accountId } = payload as { uid?: unknown; accountId?: unknown };
      if (typeof uid !== 'string' || typeof accountId !== 'string') return;
      const ctx = Provider.ctx;
      await sessions.seen({
        id: uid,
        userId: accountId,
        ip: ctx?.ip,
        userAgent: ctx?.get('user-agent').slice(0, 512) || undefined,
      });
    },
    find: (id) => inner.find(id),
    findByUserCode: (userCode) => inner.findByUserCode(userCode),
    findByUid: (uid) => inner.findByUid(uid),
    consume: (id) => inner.consume(id),
    destroy: (id) => inner.destroy(id),
    revokeByGrantId: (grantId) => inner.revokeByGrantId(grantId),
  };
}
