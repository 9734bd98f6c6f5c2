import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { AccountChange, AccountChangeService } from '../../services/account-changes.ts';
import type { SecondFactorService, TotpEnrolment } from '../../services/second-factors.ts';
import { type Csrf, formOf } from '../middleware/csrf.ts';
import type { Pages } from '../pages.ts';
import { accountOf } from './session.ts';

/** Notices of the second-factor section after a redirect back to /account (fixed words). */
export const SECOND_FACTOR_NOTICES: Record<string, string> = {
  'totp-removed': 'account.notice.totp_removed',
  'totp-exists': 'account.notice.totp_exists',
  'bad-code': 'account.notice.bad_code',
  'no-totp': 'account.notice.no_totp',
};

const WRONG_CODE = 'totp.wrong_code';

export interface SecondFactorRouteDeps {
  changes: AccountChangeService;
  secondFactors: SecondFactorService;
  csrf: Csrf;
  pages: Pages;
  /** the account router's middleware: signed in, and a form with a valid CSRF token */
  signedIn: Middleware;
  form: Middleware;
  /** a change to the ways to sign in, refused (back to /account, which offers a step-up) without the proof */
  mayChange(ctx: Context, change: AccountChange): Promise<boolean>;
  back(ctx: Context, notice: string): void;
}

/**
 * The second factors on /account: an authenticator app (enrol with a QR code drawn here, confirm
 * with a code, remove), recovery codes (shown once, regenerated), and the step-up with a code for
 * a session that must prove a second factor before it changes them.
 */
export function accountSecondFactorRoutes(router: Router, deps: SecondFactorRouteDeps): void {
  const { changes, secondFactors, csrf, pages, signedIn, form, mayChange, back } = deps;

  const tooMany = (ctx: Context, retryAfter: number) => {
    ctx.set('Retry-After', String(retryAfter));
    pages.error(ctx, {
      status: 429,
      text: 'error.account_code_limited',
      vars: { minutes: Math.max(1, Math.ceil(retryAfter / 60)) },
      code: 'too_many_requests',
      backUrl: '/account',
    });
  };

  /** The enrolment page: the QR code as inline SVG (no image request, nothing for the CSP to allow), the secret as text. */
  const enrolPage = async (ctx: Context, enrolment: TotpEnrolment, error?: string) => {
    // loaded on the first enrolment: most instances never show one
    const { default: QRCode } = await import('qrcode');
    const qr = await QRCode.toString(enrolment.uri, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' });
    pages.render(
      ctx,
      'totp-enrol',
      { csrf: csrf.token(accountOf(ctx).csrfKey), qr, secret: enrolment.secret, error },
      [],
      error ? 400 : 200,
    );
  };
  /** Recovery codes, shown this once (the page is never cached; only their hashes are kept). */
  const codesPage = (ctx: Context, codes: string[], enrolled: boolean) =>
    pages.render(ctx, 'recovery-codes', { codes, enrolled }, [], 200);

  router.post('/account/totp', signedIn, form, async (ctx) => {
    if (!(await mayChange(ctx, 'add-totp'))) return;
    const { user } = accountOf(ctx);
    if (!(await secondFactors.startEnrolment(user))) return back(ctx, 'totp-exists');
    ctx.status = 303;
    ctx.redirect('/account/totp');
  });

  router.get('/account/totp', signedIn, async (ctx) => {
    if (!(await mayChange(ctx, 'add-totp'))) return;
    const enrolment = await secondFactors.pendingEnrolment(accountOf(ctx).user);
    if (!enrolment) {
      ctx.status = 303;
      return ctx.redirect('/account');
    }
    await enrolPage(ctx, enrolment);
  });

  router.post('/account/totp/confirm', signedIn, form, async (ctx) => {
    if (!(await mayChange(ctx, 'add-totp'))) return;
    const { user } = accountOf(ctx);
    const confirmed = await secondFactors.confirmEnrolment(user.id, (formOf(ctx).code ?? '').slice(0, 64), {
      ip: ctx.ip,
    });
    if (confirmed.ok) return codesPage(ctx, confirmed.recoveryCodes, true);
    const enrolment = confirmed.reason === 'invalid_code' ? await secondFactors.pendingEnrolment(user) : undefined;
    if (!enrolment) return back(ctx, 'totp-exists');
    await enrolPage(ctx, enrolment, WRONG_CODE);
  });

  router.post('/account/totp/remove', signedIn, form, async (ctx) => {
    if (!(await mayChange(ctx, 'remove-totp'))) return;
    await secondFactors.removeTotp(accountOf(ctx).user.id, { ip: ctx.ip });
    back(ctx, 'totp-removed');
  });

  router.post('/account/recovery-codes', signedIn, form, async (ctx) => {
    if (!(await mayChange(ctx, 'regenerate-recovery-codes'))) return;
    const codes = await secondFactors.regenerateRecoveryCodes(accountOf(ctx).user.id, { ip: ctx.ip });
    if (!codes) return back(ctx, 'no-totp');
    codesPage(ctx, codes, false);
  });

  // the step-up with a code: the authenticator app's, or a recovery code (someone who lost the
  // phone replaces it this way), within the same limits as at sign-in
  router.post('/account/step-up/code', signedIn, form, async (ctx) => {
    const { user, session } = accountOf(ctx);
    const result = await secondFactors.verify(user.id, (formOf(ctx).code ?? '').slice(0, 64), {
      ip: ctx.ip,
      purpose: 'step_up',
    });
    if (!result.ok)
      return result.reason === 'too_many_attempts' ? tooMany(ctx, result.retryAfter) : back(ctx, 'bad-code');
    await changes.steppedUp(user.id, session);
    back(ctx, 'confirmed');
  });
}
