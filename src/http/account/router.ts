import { createHash, randomBytes } from 'node:crypto';
import { Router, type RouterContext } from '@koa/router';
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type {
  AccountChange,
  AccountChangeService,
  AccountNotifier,
  AccountSession,
} from '../../services/account-changes.ts';
import type { AccountService, PublicUser } from '../../services/accounts.ts';
import { ACCOUNT_CLIENT_ID } from '../../services/authentication-policy.ts';
import type { PasskeyService } from '../../services/passkeys.ts';
import { type Csrf, csrfForm, formOf } from '../middleware/csrf.ts';
import type { Pages } from '../pages.ts';
import type { PasskeyPages } from '../passkey-pages.ts';
import {
  authenticationResponse,
  ceremonyFailed,
  jsonErrors,
  readCeremonyBody,
  registrationResponse,
} from '../webauthn-json.ts';

const STATE_COOKIE = 'idp_account_state';

/** Notices shown after a redirect back to /account (fixed words: nothing from the URL reaches the page). */
const NOTICES: Record<string, string> = {
  added: 'Passkey added.',
  renamed: 'Passkey renamed.',
  removed: 'Passkey removed.',
  'mfa-on': 'A passkey will be asked for after your password.',
  'mfa-off': 'Your password alone signs you in again.',
  reauth: 'For your security, removing a passkey needs a recent sign-in. You signed in again: try once more.',
  'step-up': 'For your security, confirm it is you with one of your passkeys first, then try again.',
  confirmed: 'Thank you. For the next few minutes you can change your passkeys.',
  'not-found': 'That passkey no longer exists.',
  'bad-name': 'A passkey name must have 1 to 64 visible characters.',
};

export interface AccountRouterOptions {
  issuer: string;
  provider: () => Provider;
  accounts: Pick<AccountService, 'get'>;
  passkeys: Pick<PasskeyService, 'list' | 'rename' | 'remove' | 'mfaRequired'>;
  /** who may change the ways to sign in, and the passkey step-up (src/services/account-changes.ts) */
  changes: AccountChangeService;
  notifier: Pick<AccountNotifier, 'recent'>;
  csrf: Csrf;
  pages: Pages;
  passkeyPages: PasskeyPages;
}

/**
 * `/account`: the signed-in user's page, built on oidc-provider's session. A visitor
 * without one is sent through the sign-in page as the built-in first-party client `idp-account`;
 * its authorization code is never redeemed: the session the sign-in leaves is what counts here.
 */
export function createAccountRouter(options: AccountRouterOptions): Router {
  const { issuer, accounts, passkeys, changes, notifier, csrf, pages, passkeyPages } = options;
  const router = new Router();
  const callback = `${issuer}/account/callback`;

  const signedIn = async (
    ctx: Context,
  ): Promise<{ user: PublicUser; sessionUid: string; session: AccountSession } | undefined> => {
    const session = await options.provider().Session.get(ctx as never);
    const accountId = session.accountId;
    if (accountId === undefined) return undefined;
    const user = await accounts.get(accountId);
    if (user?.status !== 'active') return undefined;
    const amr = (session as { amr?: unknown }).amr;
    return {
      user,
      sessionUid: session.uid,
      session: {
        uid: session.uid,
        amr: Array.isArray(amr) ? amr.filter((m): m is string => typeof m === 'string') : [],
        authTime: session.authTime() ?? 0,
      },
    };
  };
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

  type SignedIn = NonNullable<Awaited<ReturnType<typeof signedIn>>>;
  /** A form POST on the account page: signed in (else off to the sign-in page), a readable form, a valid CSRF token. */
  const formPost: Middleware[] = [
    async (ctx, next) => {
      const who = await signedIn(ctx);
      if (!who) return toSignIn(ctx, false);
      ctx.state.account = who;
      await next();
    },
    csrfForm(csrf, (ctx) => csrfKey((ctx.state.account as SignedIn).sessionUid), {
      unreadable: (ctx, err) =>
        pages.error(ctx, {
          status: err.status,
          title: 'This form could not be read',
          message: err.message,
          backUrl: '/account',
        }),
      forbidden: (ctx) =>
        pages.error(ctx, {
          status: 403,
          title: 'This form has expired',
          message: 'For your security the form could not be accepted. Reload your account page and try again.',
          code: 'csrf_mismatch',
          backUrl: '/account',
        }),
    }),
  ];
  const postOf = (ctx: Context) => ({ ...(ctx.state.account as SignedIn), form: formOf(ctx) });

  const back = (ctx: Context, notice: string) => {
    ctx.status = 303;
    ctx.redirect(`/account?notice=${notice}`);
  };

  router.get('/account', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return toSignIn(ctx, false);
    const list = await passkeys.list(who.user.id);
    const notice = typeof ctx.query.notice === 'string' ? NOTICES[ctx.query.notice] : undefined;
    const allowed = await changes.authorize('add-passkey', who.user.id, who.session);
    passkeyPages.account(ctx, {
      stepUpRequired: !allowed.allowed && allowed.reason === 'step_up_required',
      securityNotices: (await notifier.recent(who.user.id)).map((n) => ({
        name: n.name,
        at: `${n.at.slice(0, 16).replace('T', ' ')} UTC`,
      })),
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

  // A step-up: an assertion with one of the user's own passkeys, bound to this session. A GET
  // for the options, like the sign-in page's: it only issues a challenge for this session, and
  // another site cannot read the answer (same-origin policy).
  router.get('/account/step-up/options', (ctx: RouterContext) =>
    jsonErrors(ctx, async () => {
      const who = await signedIn(ctx);
      if (!who) return ceremonyFailed(ctx, 'login_required', 401);
      ctx.set('cache-control', 'no-store');
      ctx.body = await changes.stepUpOptions(who.user.id, who.session);
    }),
  );

  router.post('/account/step-up/verify', (ctx: RouterContext) =>
    jsonErrors(ctx, async () => {
      const who = await signedIn(ctx);
      if (!who) return ceremonyFailed(ctx, 'login_required', 401);
      const body = await readCeremonyBody(ctx, csrf, csrfKey(who.sessionUid));
      const proof = await changes.stepUp(who.user.id, who.session, authenticationResponse(body.response), {
        ip: ctx.ip,
      });
      if (!proof.ok) return ceremonyFailed(ctx, proof.reason);
      ctx.set('cache-control', 'no-store');
      ctx.body = { redirect: '/account?notice=confirmed' };
    }),
  );

  router.post('/account/passkeys/options', (ctx: RouterContext) =>
    jsonErrors(ctx, async () => {
      const who = await signedIn(ctx);
      if (!who) return ceremonyFailed(ctx, 'login_required', 401);
      await readCeremonyBody(ctx, csrf, csrfKey(who.sessionUid));
      const options = await changes.registrationOptions(who.user, who.session);
      if (!options.ok) return ceremonyFailed(ctx, options.reason, refusalStatus(options.reason));
      ctx.set('cache-control', 'no-store');
      ctx.body = options.value;
    }),
  );

  router.post('/account/passkeys/verify', (ctx: RouterContext) =>
    jsonErrors(ctx, async () => {
      const who = await signedIn(ctx);
      if (!who) return ceremonyFailed(ctx, 'login_required', 401);
      const body = await readCeremonyBody(ctx, csrf, csrfKey(who.sessionUid));
      const added = await changes.addPasskey(who.user, who.session, registrationResponse(body.response), body.name, {
        ip: ctx.ip,
      });
      if (!added.ok) return ceremonyFailed(ctx, added.reason, refusalStatus(added.reason));
      ctx.set('cache-control', 'no-store');
      ctx.body = { redirect: '/account?notice=added', passkey: { id: added.value.id, name: added.value.name } };
    }),
  );

  /** A form POST that changes the ways to sign in: refused (back to the page, which offers the step-up) without the proof. */
  const mayChange = async (
    ctx: Context,
    change: AccountChange,
    post: { user: PublicUser; session: AccountSession },
  ) => {
    const decision = await changes.authorize(change, post.user.id, post.session);
    if (decision.allowed) return true;
    back(ctx, decision.reason === 'step_up_required' ? 'step-up' : 'not-found');
    return false;
  };

  router.post('/account/passkeys/:id/rename', ...formPost, async (ctx) => {
    const post = postOf(ctx);
    if (!(await mayChange(ctx, 'rename-passkey', post))) return;
    const renamed = await passkeys.rename(post.user.id, ctx.params.id ?? '', post.form.name ?? '');
    back(ctx, renamed ? 'renamed' : 'bad-name');
  });

  router.post('/account/passkeys/:id/remove', ...formPost, async (ctx) => {
    const post = postOf(ctx);
    // removing a way to sign in needs a fresh proof with a passkey that this is the account holder
    if (!(await mayChange(ctx, 'remove-passkey', post))) return;
    const removed = await passkeys.remove(post.user.id, ctx.params.id ?? '', { ip: ctx.ip, by: 'user' });
    back(ctx, removed ? 'removed' : 'not-found');
  });

  router.post('/account/mfa', ...formPost, async (ctx) => {
    const post = postOf(ctx);
    const on = post.form.required === 'on';
    const decision = await changes.setMfaRequired(post.user.id, post.session, on, { ip: ctx.ip });
    if (!decision.allowed) return back(ctx, decision.reason === 'step_up_required' ? 'step-up' : 'not-found');
    back(ctx, on ? 'mfa-on' : 'mfa-off');
  });

  return router;
}

/** 403 for a change this session may not make yet; 400 for one that cannot be made. */
const refusalStatus = (reason: string) => (reason === 'step_up_required' ? 403 : 400);
