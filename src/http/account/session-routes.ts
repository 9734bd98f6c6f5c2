import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { SessionActor, SessionService } from '../../services/sessions.ts';
import type { Pages } from '../pages.ts';
import { accountOf } from './session.ts';

/** The notices the session forms lead to (fixed words: nothing from the URL reaches the page). */
export const SESSION_NOTICES: Record<string, string> = {
  'session-ended': 'account.notice.session_ended',
  'sessions-ended': 'account.notice.sessions_ended',
  'app-revoked': 'account.notice.app_revoked',
};

/** A session on the account page. */
export interface SessionItem {
  id: string;
  device: string;
  ip: string;
  createdAt: string;
  lastSeenAt: string;
  current: boolean;
}

export interface ApplicationItem {
  clientId: string;
  name: string;
  scopes: string;
  since: string;
}

export interface SessionsSection {
  sessions: SessionItem[];
  applications: ApplicationItem[];
}

const minute = (d: Date) => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** What the account actor is, for the event log. */
const self = (ctx: Context): SessionActor => ({
  by: 'self',
  ip: ctx.ip,
  userAgent: ctx.get('user-agent').slice(0, 512) || undefined,
});

/** The account page's sessions and connected applications; a visit counts as a sighting of this session. */
export async function sessionsSection(ctx: Context, sessions: SessionService): Promise<SessionsSection> {
  const { user, session: current } = accountOf(ctx);
  await sessions.seen({ id: current.uid, userId: user.id, ip: ctx.ip, userAgent: self(ctx).userAgent });
  const [list, apps] = await Promise.all([sessions.list(user.id), sessions.applications(user.id)]);
  return {
    // the current session first
    sessions: list
      .map((s) => ({
        id: s.id,
        device: s.device,
        // the page says "unknown address" in its own language
        ip: s.ip ?? '',
        createdAt: minute(s.createdAt),
        lastSeenAt: minute(s.lastSeenAt),
        current: s.id === current.uid,
      }))
      .sort((a, b) => Number(b.current) - Number(a.current)),
    applications: apps.map((a) => ({
      clientId: a.clientId,
      name: a.name,
      scopes: a.scopes.join(' '),
      since: a.since.toISOString().slice(0, 10),
    })),
  };
}

/**
 * `/account` forms that end sessions and revoke applications. A session or application that is
 * not the signed-in user's own answers 404, like one that does not exist.
 */
export function accountSessionRoutes(
  router: Router,
  deps: { sessions: SessionService; pages: Pages; signedIn: Middleware; form: Middleware },
): void {
  const { sessions, pages, signedIn, form } = deps;
  const back = (ctx: Context, notice: string) => {
    ctx.status = 303;
    ctx.redirect(`/account?notice=${notice}`);
  };
  const missing = (ctx: Context, what: 'session' | 'application') =>
    pages.error(ctx, {
      status: 404,
      text: `error.no_${what}`,
      code: 'not_found',
      backUrl: '/account',
    });

  router.post('/account/sessions/:id/revoke', signedIn, form, async (ctx) => {
    const ended = await sessions.end(accountOf(ctx).user.id, ctx.params.id ?? '', self(ctx));
    if (!ended) return missing(ctx, 'session');
    back(ctx, 'session-ended');
  });

  router.post('/account/sessions/revoke-others', signedIn, form, async (ctx) => {
    const { user, session } = accountOf(ctx);
    await sessions.endOthers(user.id, session.uid, 'user', self(ctx));
    back(ctx, 'sessions-ended');
  });

  router.post('/account/applications/:clientId/revoke', signedIn, form, async (ctx) => {
    const revoked = await sessions.revokeApplication(accountOf(ctx).user.id, ctx.params.clientId ?? '', self(ctx));
    if (!revoked) return missing(ctx, 'application');
    back(ctx, 'app-revoked');
  });
}
