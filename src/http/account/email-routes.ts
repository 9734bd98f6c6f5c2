import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { AccountChange } from '../../services/account-changes.ts';
import type { EmailVerificationService } from '../../services/email-verification.ts';
import { formOf } from '../middleware/csrf.ts';
import { accountOf } from './session.ts';

/** Notices after the email form (fixed words: nothing from the URL reaches the page). */
export const EMAIL_NOTICES: Record<string, string> = {
  'email-sent': 'account.notice.email_sent',
  'email-password': 'account.notice.email_password',
  'email-invalid': 'account.notice.email_invalid',
  'email-same': 'account.notice.email_same',
  'email-limited': 'account.notice.email_limited',
  'email-unavailable': 'account.notice.email_unavailable',
};

/**
 * `POST /account/email` (inputs `email`, `current_password`): starts the verification of a new
 * address. The address changes only when the mailed link is followed (src/http/self-service);
 * the current address is told at once. Sending the current, unverified address again re-sends
 * its verification link. An account with a second factor needs a fresh proof of it first, like
 * any change to its ways to sign in.
 */
export function accountEmailRoutes(
  router: Router,
  deps: {
    emailVerification: EmailVerificationService;
    signedIn: Middleware;
    form: Middleware;
    /** the step-up rule of the ways to sign in: redirects to the step-up notice when refused */
    mayChange: (ctx: Context, change: AccountChange) => Promise<boolean>;
  },
): void {
  const { emailVerification } = deps;
  router.post('/account/email', deps.signedIn, deps.form, async (ctx) => {
    const back = (notice: string) => {
      ctx.status = 303;
      ctx.redirect(`/account?notice=${notice}`);
    };
    if (!emailVerification.available) return back('email-unavailable');
    // the recovery address of an account with a second factor: a password alone is not enough
    if (!(await deps.mayChange(ctx, 'change-email'))) return;
    const fields = formOf(ctx);
    const outcome = await emailVerification.requestChange(
      accountOf(ctx).user.id,
      (fields.email ?? '').slice(0, 320),
      (fields.current_password ?? '').slice(0, 1024),
      { ip: ctx.ip, userAgent: ctx.get('user-agent').slice(0, 256) || undefined },
    );
    if (outcome.kind === 'check_mail') return back('email-sent');
    if (outcome.kind === 'limited') return back('email-limited');
    const { problem } = outcome;
    back(
      problem.field === 'current_password'
        ? 'email-password'
        : problem.code === 'same_email'
          ? 'email-same'
          : 'email-invalid',
    );
  });
}
