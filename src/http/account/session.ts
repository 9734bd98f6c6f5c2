import { createHash, randomBytes } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { AccountSession } from '../../services/account-changes.ts';
import type { AccountService, PublicUser } from '../../services/accounts.ts';
import { ACCOUNT_CLIENT_ID } from '../../services/authentication-policy.ts';

const STATE_COOKIE = 'idp_account_state';

/** The signed-in visitor of the account page. */
export interface AccountVisitor {
  user: PublicUser;
  session: AccountSession;
  /** what the page's CSRF tokens are bound to: this session */
  csrfKey: string;
}

/**
 * The account page's session: oidc-provider's, for an active account. A visitor without one is
 * sent through the sign-in page as the built-in first-party client `idp-account`; its
 * authorization code is never redeemed: the session the sign-in leaves is what counts here.
 */
export function createAccountSession(deps: {
  issuer: string;
  provider: () => Provider;
  accounts: Pick<AccountService, 'get'>;
}) {
  const { issuer } = deps;

  const find = async (ctx: Context): Promise<AccountVisitor | undefined> => {
    const session = await deps.provider().Session.get(ctx as never);
    const accountId = session.accountId;
    if (accountId === undefined) return undefined;
    const user = await deps.accounts.get(accountId);
    if (user?.status !== 'active') return undefined;
    const amr = (session as { amr?: unknown }).amr;
    return {
      user,
      csrfKey: `account:${session.uid}`,
      session: {
        uid: session.uid,
        amr: Array.isArray(amr) ? amr.filter((m): m is string => typeof m === 'string') : [],
        authTime: session.authTime() ?? 0,
      },
    };
  };

  /** Starts an authorization request for the account page; `reauth` forces the sign-in page (OIDC Core §3.1.2.1 prompt=login). */
  const toSignIn = (ctx: Context, reauth: boolean) => {
    const state = randomBytes(16).toString('base64url');
    ctx.cookies.set(STATE_COOKIE, `${state}.${reauth ? 1 : 0}`, {
      signed: true,
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      path: '/account',
      maxAge: 10 * 60 * 1000,
    });
    // PKCE is required for every client (RFC 9700 §2.1.1); the code is never redeemed, so the verifier is dropped
    const challenge = createHash('sha256').update(randomBytes(32)).digest('base64url');
    const url = new URL(`${issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: ACCOUNT_CLIENT_ID,
      response_type: 'code',
      redirect_uri: `${issuer}/account/callback`,
      scope: 'openid',
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...(reauth ? { prompt: 'login' } : {}),
    }).toString();
    ctx.status = 303;
    ctx.redirect(url.href);
  };

  /** The state the sign-in was started with (and whether it was a re-authentication), read once. */
  const takeState = (ctx: Context): { state: string | undefined; reauth: boolean } => {
    const cookie = ctx.cookies.get(STATE_COOKIE, { signed: true });
    ctx.cookies.set(STATE_COOKIE, null, { path: '/account' });
    const [state, reauth] = (cookie ?? '').split('.');
    return { state: state || undefined, reauth: reauth === '1' };
  };

  /** Loads the visitor into `ctx.state.account`, or answers with `missing` (the sign-in page, or a JSON 401). */
  const load =
    (missing: (ctx: Context) => void): Middleware =>
    async (ctx, next) => {
      const visitor = await find(ctx);
      if (!visitor) return missing(ctx);
      ctx.state.account = visitor;
      await next();
    };

  return { load, toSignIn, takeState };
}

/** The visitor the account session loaded for this request. */
export const accountOf = (ctx: Context): AccountVisitor => ctx.state.account as AccountVisitor;
