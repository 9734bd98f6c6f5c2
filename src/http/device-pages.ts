import { Router } from '@koa/router';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { DeviceFlowGuard } from '../services/device-flow.ts';
import type { SecurityEventInput } from '../services/security-events.ts';
import type { Pages } from './pages.ts';

/** oidc-provider's `features.deviceFlow` page hooks, rendered in our layout. */
export interface DevicePages {
  userCodeInputSource(ctx: KoaContextWithOIDC, form: string, out: unknown, err: unknown): Promise<void>;
  userCodeConfirmSource(
    ctx: KoaContextWithOIDC,
    form: string,
    client: { clientId: string; clientName?: string | undefined },
    deviceInfo: unknown,
    userCode: string,
  ): Promise<void>;
  successSource(ctx: KoaContextWithOIDC): Promise<void>;
}

/** The session's anti-forgery secret that oidc-provider checks on every POST to its code verification route. */
const xsrfOf = (ctx: KoaContextWithOIDC): string => {
  const state = (ctx.oidc.session as unknown as { state?: { secret?: unknown } } | undefined)?.state;
  return typeof state?.secret === 'string' ? state.secret : '';
};

const errorName = (err: unknown) => (err instanceof Error ? err.name : undefined);

/** The catalog key of what the page says after a refused code; never whether a code exists for someone else. */
function messageFor(err: unknown): string | undefined {
  switch (errorName(err)) {
    case undefined:
      return undefined;
    case 'NoCodeError':
      return 'device.error.no_code';
    case 'NotFoundError':
    case 'ExpiredError':
    case 'AlreadyUsedError':
      return 'device.error.invalid';
    case 'AbortedError':
      return 'device.error.aborted';
    default:
      return 'device.error.unchecked';
  }
}

export function createDevicePages(deps: {
  pages: Pages;
  guard: DeviceFlowGuard;
  events: { record(event: SecurityEventInput): void };
}): { sources: DevicePages; router: Router } {
  const { pages, guard, events } = deps;
  const action = (ctx: KoaContextWithOIDC) => ctx.oidc.urlFor('code_verification');

  const sources: DevicePages = {
    async userCodeInputSource(ctx, _form, _out, err) {
      const name = errorName(err);
      // RFC 8628 §5.1: a wrong code counts toward this address's (and everyone's) limit
      if (name === 'NotFoundError' || name === 'ExpiredError') {
        await guard.failedEntry(ctx.ip, ctx.get('user-agent') || undefined);
      }
      if (name === 'AbortedError') {
        const code = ctx.oidc.entities.DeviceCode;
        events.record({
          type: 'device.denied',
          clientId: code?.clientId,
          ip: ctx.ip,
          userAgent: ctx.get('user-agent') || undefined,
        });
      }
      const userCode = (err as { userCode?: unknown } | undefined)?.userCode;
      pages.render(
        ctx,
        'device-code',
        {
          action: action(ctx),
          xsrf: xsrfOf(ctx),
          error: messageFor(err),
          aborted: name === 'AbortedError',
          userCode: name === 'NotFoundError' && typeof userCode === 'string' ? userCode.slice(0, 32) : undefined,
        },
        [],
        200,
      );
    },

    async userCodeConfirmSource(ctx, _form, client, _deviceInfo, userCode) {
      pages.render(
        ctx,
        'device-confirm',
        { action: action(ctx), xsrf: xsrfOf(ctx), clientName: client.clientName ?? client.clientId, userCode },
        [],
        200,
      );
    },

    async successSource(ctx) {
      const client = ctx.oidc.client;
      events.record({
        type: 'device.approved',
        subject: ctx.oidc.session?.accountId,
        clientId: client?.clientId,
        ip: ctx.ip,
        userAgent: ctx.get('user-agent') || undefined,
      });
      pages.render(ctx, 'device-done', { clientName: client?.clientName ?? client?.clientId }, [], 200);
    },
  };

  // Before oidc-provider looks a user code up: an address (or everyone) over the limit of wrong
  // codes waits, with Retry-After, and no lookup is made.
  const router = new Router();
  router.post('/device', async (ctx, next) => {
    const verdict = await guard.mayEnter(ctx.ip);
    if (verdict.allowed) return next();
    ctx.set('Retry-After', String(Math.max(1, verdict.retryAfter)));
    pages.error(ctx, {
      status: 429,
      text: 'device.too_many',
      vars: { minutes: Math.max(1, Math.ceil(verdict.retryAfter / 60)) },
      code: 'too_many_requests',
      backUrl: '/device',
      backLabel: 'device.enter_a_code',
    });
  });
  return { sources, router };
}
