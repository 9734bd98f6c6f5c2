import { createHash, randomBytes } from 'node:crypto';
import { Router, type RouterContext } from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from '../../logger.ts';
import { ACCOUNT_CLIENT_ID } from '../../oidc/authentication-policy.ts';
import type { AccountService, PublicUser } from '../../services/accounts.ts';
import type { PasskeyService } from '../../services/passkeys.ts';
import { FormBodyError, readForm } from '../interaction/form-body.ts';
import type { Csrf } from '../middleware/csrf.ts';
import type { Pages } from '../pages.ts';
import type { PasskeyPages } from '../passkey-pages.ts';
import { ceremonyFailed, jsonErrors, readCeremonyBody, registrationResponse } from '../webauthn-json.ts';

/** Removing a passkey needs a sign-in this recent (seconds), as GitHub and Google ask for "sudo mode". */
export const RECENT_SIGNIN_SECONDS = 300;

const STATE_COOKIE = 'idp_account_state';

/** Notices shown after a redirect back to /account (fixed words: nothing from the URL reaches the page). */
const NOTICES: Record<string, string> = {
  added: 'Passkey added.',
  renamed: 'Passkey renamed.',
  removed: 'Passkey removed.',
  'mfa-on': 'A passkey will be asked for after your password.',
  'mfa-off': 'Your password alone signs you in again.',
  reauth: 'For your security, removing a passkey needs a recent sign-in. You signed in again: try once more.',
  'not-found': 'That passkey no longer exists.',
  'bad-name': 'A passkey name must have 1 to 64 visible characters.',
};

export interface AccountRouterOptions {
  issuer: string;
  provider: () => Provider;
  accounts: Pick<AccountService, 'get'>;
  passkeys: PasskeyService;
  csrf: Csrf;
  pages: Pages;
  passkeyPages: PasskeyPages;
  log: Logger;
}

/**
 * `/account` (DESIGN §4): the signed-in user's page, built on oidc-provider's session. A visitor
 * without one is sent through the sign-in page as the built-in first-party client `idp-account`;
 * its authorization code is never redeemed: the session the sign-in leaves is what counts here.
 */
export function createAccountRouter(options: AccountRouterOptions): Router {
  const { issuer, accounts, passkeys, csrf, pages, passkeyPages, log } = options;
  const router = new Router();
  const callback = `${issuer}/account/callback`;

  const signedIn = async (
    ctx: Context,
  ): Promise<{ user: PublicUser; sessionUid: string; authTime: number } | undefined> => {
    const session = await options.provider().Session.get(ctx as never);
    const accountId = session.accountId;
    if (accountId === undefined) return undefined;
    const user = await accounts.get(accountId);
    if (user?.status !== 'active') return undefined;
    return { user, sessionUid: session.uid, authTime: session.authTime() ?? 0 };
  };
  const binding = (sessionUid: string) => `session:${sessionUid}`;
  const csrfKey = (sessionUid: string) => `account:${sessionUid}`;

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
      redirect_uri: callback,
      scope: 'openid',
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...(reauth ? { prompt: 'login' } : {}),
    }).toString();
    ctx.status = 303;
    ctx.redirect(url.href);
  };

  const expired = (ctx: Context) =>
    pages.error(ctx, {
      status: 403,
      title: 'This form has expired',
      message: 'For your security the form could not be accepted. Reload your account page and try again.',
      code: 'csrf_mismatch',
      backUrl: '/account',
    });

  /** A form POST on the account page: signed in, a readable form, a valid CSRF token. */
  const formPost = async (ctx: Context) => {
    const who = await signedIn(ctx);
    if (!who) {
      toSignIn(ctx, false);
      return undefined;
    }
    let form: Record<string, string>;
    try {
      form = await readForm(ctx.req);
    } catch (err) {
      if (!(err instanceof FormBodyError)) throw err;
      pages.error(ctx, {
        status: err.status,
        title: 'This form could not be read',
        message: err.message,
        backUrl: '/account',
      });
      return undefined;
    }
    if (!csrf.verify(csrfKey(who.sessionUid), form.csrf)) {
      expired(ctx);
      return undefined;
    }
    return { ...who, form };
  };

  const back = (ctx: Context, notice: string) => {
    ctx.status = 303;
    ctx.redirect(`/account?notice=${notice}`);
  };

  router.get('/account', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return toSignIn(ctx, false);
    const list = await passkeys.list(who.user.id);
    const notice = typeof ctx.query.notice === 'string' ? NOTICES[ctx.query.notice] : undefined;
    passkeyPages.account(ctx, {
      csrf: csrf.token(csrfKey(who.sessionUid)),
      displayName: who.user.name ?? who.user.username,
      username: who.user.username,
      passkeys: list.map((p) => ({
        id: p.id,
        name: p.name,
        createdAt: p.createdAt.toISOString().slice(0, 10),
        lastUsedAt: p.lastUsedAt?.toISOString().slice(0, 10),
        synced: p.backedUp,
      })),
      mfaRequired: list.length > 0 && (await passkeys.mfaRequired(who.user.id)),
      notice,
    });
  });

  router.get('/account/signin', (ctx) => toSignIn(ctx, ctx.query.reauth === '1'));

  router.get('/account/callback', async (ctx) => {
    const cookie = ctx.cookies.get(STATE_COOKIE, { signed: true });
    ctx.cookies.set(STATE_COOKIE, null, { path: '/account' });
    const [state, reauth] = (cookie ?? '').split('.');
    if (!state || ctx.query.state !== state) {
      return pages.error(ctx, {
        status: 400,
        title: 'This sign-in link has expired',
        message: 'Open your account page again.',
        code: 'state_mismatch',
        backUrl: '/account',
        backLabel: 'Go to your account',
      });
    }
    if (typeof ctx.query.error === 'string') {
      return pages.error(ctx, {
        status: 400,
        title: 'You are not signed in',
        message: 'Signing in did not complete.',
        code: ctx.query.error.slice(0, 64),
        backUrl: '/account',
        backLabel: 'Try again',
      });
    }
    ctx.status = 303;
    ctx.redirect(reauth === '1' ? '/account?notice=reauth' : '/account');
  });

  router.post('/account/passkeys/options', (ctx: RouterContext) =>
    jsonErrors(ctx, async () => {
      const who = await signedIn(ctx);
      if (!who) return ceremonyFailed(ctx, 'login_required', 401);
      await readCeremonyBody(ctx, csrf, csrfKey(who.sessionUid));
      ctx.set('cache-control', 'no-store');
      ctx.body = await passkeys.registrationOptions(who.user, binding(who.sessionUid));
    }),
  );

  router.post('/account/passkeys/verify', (ctx: RouterContext) =>
    jsonErrors(ctx, async () => {
      const who = await signedIn(ctx);
      if (!who) return ceremonyFailed(ctx, 'login_required', 401);
      const body = await readCeremonyBody(ctx, csrf, csrfKey(who.sessionUid));
      const added = await passkeys.register(
        who.user,
        binding(who.sessionUid),
        registrationResponse(body.response),
        body.name,
        {
          ip: ctx.ip,
        },
      );
      if (!added.ok) return ceremonyFailed(ctx, added.reason);
      ctx.set('cache-control', 'no-store');
      ctx.body = { redirect: '/account?notice=added', passkey: { id: added.value.id, name: added.value.name } };
    }),
  );

  router.post('/account/passkeys/:id/rename', async (ctx) => {
    const post = await formPost(ctx);
    if (!post) return;
    const renamed = await passkeys.rename(post.user.id, ctx.params.id ?? '', post.form.name ?? '');
    back(ctx, renamed ? 'renamed' : 'bad-name');
  });

  router.post('/account/passkeys/:id/remove', async (ctx) => {
    const post = await formPost(ctx);
    if (!post) return;
    // removing a way to sign in needs a fresh proof that this is the account holder
    if (Date.now() / 1000 - post.authTime > RECENT_SIGNIN_SECONDS) return toSignIn(ctx, true);
    const removed = await passkeys.remove(post.user.id, ctx.params.id ?? '', { ip: ctx.ip, by: 'user' });
    back(ctx, removed ? 'removed' : 'not-found');
  });

  router.post('/account/mfa', async (ctx) => {
    const post = await formPost(ctx);
    if (!post) return;
    const on = post.form.required === 'on';
    // a second factor nobody can give would lock the account: only with a passkey
    if (on && (await passkeys.list(post.user.id)).length === 0) return back(ctx, 'not-found');
    await passkeys.setMfaRequired(post.user.id, on);
    log.info({ event: 'user.updated', userId: post.user.id, fields: ['mfaRequired'], mfaRequired: on }, 'user updated');
    back(ctx, on ? 'mfa-on' : 'mfa-off');
  });

  return router;
}
