import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { AccountChangeService } from '../../services/account-changes.ts';
import type { PasswordChange } from '../../services/password-change.ts';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../../services/passwords.ts';
import { formOf } from '../middleware/csrf.ts';
import type { Pages } from '../pages.ts';
import { accountOf } from './session.ts';

export const PASSWORD_NOTICES: Record<string, string> = {
  'password-changed': 'account.notice.password_changed',
};

/**
 * `POST /account/password`: `current_password` and `password`. With a second factor, the same
 * step-up as changing passkeys (account-changes.ts): the password alone cannot replace itself.
 */
export function accountPasswordRoutes(
  router: Router,
  deps: {
    passwordChange: PasswordChange;
    changes: Pick<AccountChangeService, 'authorize'>;
    pages: Pages;
    signedIn: Middleware;
    form: Middleware;
  },
): void {
  const { passwordChange, changes, pages, signedIn, form } = deps;

  router.post('/account/password', signedIn, form, async (ctx) => {
    const { user, session } = accountOf(ctx);
    const fields = formOf(ctx);
    /** `text`: the catalog entry of the page (views/locales `<text>.title` / `.message`) */
    // `field`: the input at fault, named (untranslated, like a form's field names) under the message
    const refuse = (status: number, text: string, code: string, field?: string, vars?: Record<string, number>) =>
      pages.error(ctx, {
        status,
        text,
        vars,
        code,
        detail: field,
        backUrl: '/account',
        backLabel: 'common.back_to_account',
      });
    const current = fields.current_password ?? '';
    const next = fields.password ?? '';
    if (current === '') return refuse(400, 'error.password.current_missing', 'invalid_request', 'current_password');
    if (next === '') return refuse(400, 'error.password.new_missing', 'invalid_request', 'password');

    const decision = await changes.authorize('change-password', user.id, session);
    if (!decision.allowed) {
      ctx.status = 303;
      return ctx.redirect('/account?notice=step-up');
    }
    const result = await passwordChange.change(
      user.id,
      session.uid,
      { current, next },
      {
        ip: ctx.ip,
        userAgent: ctx.get('user-agent').slice(0, 512) || undefined,
      },
    );
    if (result.ok) {
      ctx.status = 303;
      return ctx.redirect('/account?notice=password-changed');
    }
    switch (result.reason) {
      case 'wrong_password':
        return refuse(400, 'error.password.wrong_current', 'invalid_request', 'current_password');
      case 'weak_password':
        return refuse(400, `error.password.${result.code}`, 'invalid_request', 'password', {
          min: PASSWORD_MIN_LENGTH,
          max: PASSWORD_MAX_LENGTH,
        });
      case 'too_many_attempts':
        ctx.set('Retry-After', String(result.retryAfter ?? 60));
        return refuse(429, 'error.password.limited', 'too_many_attempts');
      case 'not_found':
        return refuse(404, 'error.password.not_found', 'not_found');
    }
  });
}
