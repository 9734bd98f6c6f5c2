import { createHash, randomBytes } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { type AdminPower, powerOf } from '../../services/admin-delegation.ts';
import { CONSOLE_CLIENT_ID } from '../../services/builtin-clients.ts';
import { seal, unseal } from '../../services/secrets.ts';
import { inProcess } from './in-process.ts';

const SESSION_COOKIE = 'idp_console';
const STATE_COOKIE = 'idp_console_state';
const PATH = '/console';
/** a token this close to its end is replaced before a page uses it, so a form is not sent with a dying one */
const RENEW_BEFORE_MS = 60_000;

/** What the console keeps of a sign-in, sealed in an HttpOnly cookie (AES-256-GCM, key from SECRETS_KEY). */
export interface ConsoleSession {
  /** the admin API access token: the console acts with it and with nothing else */
  token: string;
  /** when it expires (ms since the epoch) */
  exp: number;
  /** its scopes on the admin API */
  scope: string;
  sub: string;
  /** the person's name for the header */
  name: string;
  /** random per sign-in: CSRF tokens are bound to it */
  nonce: string;
}

export interface ConsoleVisitor extends ConsoleSession {
  power: AdminPower;
}

interface PendingSignIn {
  state: string;
  verifier: string;
  /** where to go back to: a console path */
  back: string;
}

const SEAL_CONTEXT = { session: 'console-session', state: 'console-state' } as const;

/** A path of the console to come back to: nothing else (no other origin, no protocol-relative URL). */
const consolePath = (value: unknown): string =>
  typeof value === 'string' && /^\/console(\/[\w\-./?=&%]*)?$/.test(value) && !value.includes('//')
    ? value
    : '/console';

const decodePayload = (jwt: string): Record<string, unknown> => {
  try {
    const part = jwt.split('.')[1] ?? '';
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
};

/**
 * The console's sign-in: authorization code with PKCE as the built-in client `idp-console`, for
 * an access token to the admin API (RFC 8707 `resource`) with every admin scope asked for; the
 * token carries only those the person's roles grant. The code is redeemed in-process at our own
 * token endpoint, and the token lives in a sealed HttpOnly cookie scoped to /console.
 */
export function createConsoleSession(deps: {
  issuer: string;
  adminAudience: string;
  key: Buffer;
  clientSecret: string;
  scopes: readonly string[];
}) {
  const { issuer, key } = deps;
  const cookie = (ctx: Context) => ({
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: ctx.secure,
    path: PATH,
    overwrite: true,
  });

  const read = (ctx: Context): ConsoleSession | undefined => {
    const sealed = ctx.cookies.get(SESSION_COOKIE);
    if (!sealed || sealed.length > 8192) return undefined;
    try {
      const value = JSON.parse(unseal(sealed, key, SEAL_CONTEXT.session)) as ConsoleSession;
      return typeof value.token === 'string' && typeof value.exp === 'number' ? value : undefined;
    } catch {
      return undefined; // another SECRETS_KEY, or tampered with: sign in again
    }
  };

  const clear = (ctx: Context) => ctx.cookies.set(SESSION_COOKIE, null, cookie(ctx));

  /** Starts a sign-in (RFC 7636 S256, RFC 8707 resource), coming back to `back`. */
  const toSignIn = (ctx: Context, back: string) => {
    const pending: PendingSignIn = {
      state: randomBytes(16).toString('base64url'),
      verifier: randomBytes(32).toString('base64url'),
      back: consolePath(back),
    };
    ctx.cookies.set(STATE_COOKIE, seal(JSON.stringify(pending), key, SEAL_CONTEXT.state), {
      ...cookie(ctx),
      maxAge: 10 * 60 * 1000,
    });
    const url = new URL(`${issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: CONSOLE_CLIENT_ID,
      response_type: 'code',
      redirect_uri: `${issuer}/console/callback`,
      scope: ['openid', 'profile', ...deps.scopes].join(' '),
      resource: deps.adminAudience,
      state: pending.state,
      code_challenge: createHash('sha256').update(pending.verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect(url.href);
  };

  const takePending = (ctx: Context): PendingSignIn | undefined => {
    const sealed = ctx.cookies.get(STATE_COOKIE);
    ctx.cookies.set(STATE_COOKIE, null, cookie(ctx));
    if (!sealed || sealed.length > 4096) return undefined;
    try {
      return JSON.parse(unseal(sealed, key, SEAL_CONTEXT.state)) as PendingSignIn;
    } catch {
      return undefined;
    }
  };

  type Finished =
    | { ok: true; back: string; session: ConsoleSession }
    | { ok: false; reason: 'state' | 'denied' | 'exchange'; error?: string };

  /** The redirect back from the authorization endpoint: checks state, redeems the code in-process. */
  const finish = async (ctx: Context): Promise<Finished> => {
    const pending = takePending(ctx);
    const state = ctx.query.state;
    if (!pending || typeof state !== 'string' || state !== pending.state) return { ok: false, reason: 'state' };
    if (typeof ctx.query.error === 'string')
      return { ok: false, reason: 'denied', error: ctx.query.error.slice(0, 64) };
    const code = ctx.query.code;
    if (typeof code !== 'string' || code.length > 512) return { ok: false, reason: 'exchange' };
    const answer = await inProcess(ctx, {
      method: 'POST',
      path: '/token',
      headers: {
        authorization: `Basic ${Buffer.from(
          `${encodeURIComponent(CONSOLE_CLIENT_ID)}:${encodeURIComponent(deps.clientSecret)}`,
        ).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: `${issuer}/console/callback`,
        code_verifier: pending.verifier,
        resource: deps.adminAudience,
      }).toString(),
    });
    const body = answer.body as { access_token?: unknown; id_token?: unknown; expires_in?: unknown; scope?: unknown };
    if (answer.status !== 200 || typeof body.access_token !== 'string') {
      return {
        ok: false,
        reason: 'exchange',
        error: String((answer.body as { error?: unknown })?.error ?? answer.status),
      };
    }
    const claims = decodePayload(body.access_token);
    const idClaims = typeof body.id_token === 'string' ? decodePayload(body.id_token) : {};
    const exp = typeof claims.exp === 'number' ? claims.exp * 1000 : Date.now() + Number(body.expires_in ?? 0) * 1000;
    const sub = typeof claims.sub === 'string' ? claims.sub : '';
    const session: ConsoleSession = {
      token: body.access_token,
      exp,
      scope: typeof claims.scope === 'string' ? claims.scope : '',
      sub,
      name:
        [idClaims.preferred_username, idClaims.name, sub].find((v): v is string => typeof v === 'string' && v !== '') ??
        sub,
      nonce: randomBytes(16).toString('base64url'),
    };
    ctx.cookies.set(SESSION_COOKIE, seal(JSON.stringify(session), key, SEAL_CONTEXT.session), cookie(ctx));
    return { ok: true, back: pending.back, session };
  };

  /**
   * Loads the visitor into `ctx.state.console`. Without a session, or with a token about to expire,
   * the request goes through the sign-in (silent while the server's own session lasts) and comes
   * back to this page; a form sent with an expired token is shown again, unsent.
   */
  const load: Middleware = async (ctx, next) => {
    const session = read(ctx);
    if (!session || session.exp - Date.now() < RENEW_BEFORE_MS) {
      // every form posts to the path of the page that shows it: a POST comes back to that page
      return toSignIn(ctx, ctx.method === 'GET' ? ctx.url : ctx.path);
    }
    ctx.state.console = { ...session, power: powerOf(session.scope) } satisfies ConsoleVisitor;
    await next();
  };

  return { load, toSignIn, finish, clear, read };
}

/** The visitor `load` put on this request. */
export const visitorOf = (ctx: Context): ConsoleVisitor => ctx.state.console as ConsoleVisitor;
