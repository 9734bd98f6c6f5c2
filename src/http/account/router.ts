import { Router } from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { AccountChange, AccountChangeService, AccountNotifier } from '../../services/account-changes.ts';
import type { AccountService } from '../../services/accounts.ts';
import type { EmailVerificationService } from '../../services/email-verification.ts';
import type { PasskeyService } from '../../services/passkeys.ts';
import type { PasswordChange } from '../../services/password-change.ts';
import type { SecondFactorService } from '../../services/second-factors.ts';
import type { SessionService } from '../../services/sessions.ts';
import { type Csrf, csrfForm, formOf } from '../middleware/csrf.ts';
import type { Pages } from '../pages.ts';
import type { PasskeyPages } from '../passkey-pages.ts';
import { accountEmailRoutes, EMAIL_NOTICES } from './email-routes.ts';
import { accountPasskeyRoutes } from './passkey-routes.ts';
import { accountPasswordRoutes, PASSWORD_NOTICES } from './password-routes.ts';
import { accountOf, createAccountSession } from './session.ts';
import { accountSessionRoutes, SESSION_NOTICES, sessionsSection } from './session-routes.ts';
import { accountSecondFactorRoutes, SECOND_FACTOR_NOTICES } from './totp-routes.ts';

/** Notices shown after a redirect back to /account (fixed words: nothing from the URL reaches the page). */
const NOTICES: Record<string, string> = {
  added: 'account.notice.added',
  renamed: 'account.notice.renamed',
  removed: 'account.notice.removed',
  'mfa-on': 'account.notice.mfa_on',
  'mfa-off': 'account.notice.mfa_off',
  reauth: 'account.notice.reauth',
  'step-up': 'account.notice.step_up',
  confirmed: 'account.notice.confirmed',
  'not-found': 'account.notice.not_found',
  'bad-name': 'account.notice.bad_name',
  ...SECOND_FACTOR_NOTICES,
  ...EMAIL_NOTICES,
  ...SESSION_NOTICES,
  ...PASSWORD_NOTICES,
};

export interface AccountRouterOptions {
  issuer: string;
  provider: () => Provider;
  accounts: Pick<AccountService, 'get' | 'rememberLocale'>;
  passkeys: Pick<PasskeyService, 'list' | 'rename' | 'remove' | 'mfaRequired'>;
  /** who may change the ways to sign in, and the passkey step-up (src/services/account-changes.ts) */
  changes: AccountChangeService;
  /** authenticator apps and recovery codes (src/services/second-factors.ts) */
  secondFactors: SecondFactorService;
  notifier: Pick<AccountNotifier, 'recent'>;
  /** sessions and connected applications (./session-routes.ts) */
  sessions: SessionService;
  /** the password change form (./password-routes.ts) */
  passwordChange: PasswordChange;
  csrf: Csrf;
  pages: Pages;
  passkeyPages: PasskeyPages;
  /** the email section: a new address, verified by mail */
  emailVerification: EmailVerificationService;
}

/** `/account`: the signed-in user's page, built on oidc-provider's session (./session.ts). */
export function createAccountRouter(options: AccountRouterOptions): Router {
  const { passkeys, changes, secondFactors, notifier, csrf, pages, passkeyPages } = options;
  const router = new Router();
  const session = createAccountSession(options);
  const signedIn = session.load((ctx) => session.toSignIn(ctx, false));
  /** A form POST: signed in (else off to the sign-in page), a readable form, a valid CSRF token. */
  const form = csrfForm(csrf, (ctx) => accountOf(ctx).csrfKey, {
    unreadable: (ctx, err) =>
      pages.error(ctx, {
        status: err.status,
        text: 'error.account_form_unreadable',
        detail: err.message,
        backUrl: '/account',
      }),
    forbidden: (ctx) =>
      pages.error(ctx, {
        status: 403,
        text: 'error.account_form_expired',
        code: 'csrf_mismatch',
        backUrl: '/account',
      }),
  });

  const back = (ctx: Context, notice: string) => {
    ctx.status = 303;
    ctx.redirect(`/account?notice=${notice}`);
  };

  router.get('/account', signedIn, async (ctx) => {
    const { user, session: current, csrfKey } = accountOf(ctx);
    const list = await passkeys.list(user.id);
    const notice =
      typeof ctx.query.notice === 'string' && Object.hasOwn(NOTICES, ctx.query.notice)
        ? NOTICES[ctx.query.notice]
        : undefined;
    const allowed = await changes.authorize('add-passkey', user.id, current);
    const factors = await secondFactors.status(user.id);
    // mails to this person are written in the language they use the pages in
    await options.accounts.rememberLocale(user.id, pages.localeOf(ctx));
    passkeyPages.account(ctx, {
      secondFactors: { ...factors, hasPasskeys: list.length > 0 },
      stepUpRequired: !allowed.allowed && allowed.reason === 'step_up_required',
      securityNotices: (await notifier.recent(user.id)).map((n) => ({
        name: n.name,
        at: `${n.at.slice(0, 16).replace('T', ' ')} UTC`,
      })),
      csrf: csrf.token(csrfKey),
      displayName: user.name ?? user.username,
      username: user.username,
      email: user.email,
      emailVerified: user.emailVerified,
      passkeys: list.map((p) => ({
        id: p.id,
        name: p.name,
        createdAt: p.createdAt.toISOString().slice(0, 10),
        lastUsedAt: p.lastUsedAt?.toISOString().slice(0, 10),
        synced: p.backedUp,
      })),
      mfaRequired: list.length > 0 && (await passkeys.mfaRequired(user.id)),
      notice,
      ...(await sessionsSection(ctx, options.sessions)),
    });
  });

  router.get('/account/signin', (ctx) => session.toSignIn(ctx, ctx.query.reauth === '1'));

  router.get('/account/callback', async (ctx) => {
    const { state, reauth } = session.takeState(ctx);
    if (!state || ctx.query.state !== state) {
      return pages.error(ctx, {
        status: 400,
        text: 'error.state_mismatch',
        code: 'state_mismatch',
        backUrl: '/account',
      });
    }
    if (typeof ctx.query.error === 'string') {
      return pages.error(ctx, {
        status: 400,
        text: 'error.not_signed_in',
        code: ctx.query.error.slice(0, 64),
        backUrl: '/account',
        backLabel: 'common.try_again',
      });
    }
    ctx.status = 303;
    ctx.redirect(reauth ? '/account?notice=reauth' : '/account');
  });

  accountPasskeyRoutes(router, { changes, csrf, session });
  accountSessionRoutes(router, { sessions: options.sessions, pages, signedIn, form });
  accountPasswordRoutes(router, { passwordChange: options.passwordChange, changes, pages, signedIn, form });

  /** A change to the ways to sign in: refused (back to the page, which offers the step-up) without the proof. */
  const mayChange = async (ctx: Context, change: AccountChange) => {
    const { user, session: current } = accountOf(ctx);
    const decision = await changes.authorize(change, user.id, current);
    if (decision.allowed) return true;
    back(ctx, decision.reason === 'step_up_required' ? 'step-up' : 'not-found');
    return false;
  };

  router.post('/account/passkeys/:id/rename', signedIn, form, async (ctx) => {
    if (!(await mayChange(ctx, 'rename-passkey'))) return;
    const renamed = await passkeys.rename(accountOf(ctx).user.id, ctx.params.id ?? '', formOf(ctx).name ?? '');
    back(ctx, renamed ? 'renamed' : 'bad-name');
  });

  router.post('/account/passkeys/:id/remove', signedIn, form, async (ctx) => {
    // removing a way to sign in needs a fresh proof with a passkey that this is the account holder
    if (!(await mayChange(ctx, 'remove-passkey'))) return;
    const removed = await passkeys.remove(accountOf(ctx).user.id, ctx.params.id ?? '', { ip: ctx.ip, by: 'user' });
    back(ctx, removed ? 'removed' : 'not-found');
  });

  router.post('/account/mfa', signedIn, form, async (ctx) => {
    const { user, session: current } = accountOf(ctx);
    const on = formOf(ctx).required === 'on';
    const decision = await changes.setMfaRequired(user.id, current, on, { ip: ctx.ip });
    if (!decision.allowed) return back(ctx, decision.reason === 'step_up_required' ? 'step-up' : 'not-found');
    back(ctx, on ? 'mfa-on' : 'mfa-off');
  });

  accountSecondFactorRoutes(router, { changes, secondFactors, csrf, pages, signedIn, form, mayChange, back });
  accountEmailRoutes(router, { emailVerification: options.emailVerification, signedIn, form, mayChange });

  return router;
}
