import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { AccountChangeService } from '../../services/account-changes.ts';
import type { PasswordChange } from '../../services/password-change.ts';
import { formOf } from '../middleware/csrf.ts';
import type { Pages } from '../pages.ts';
import { accountOf } from './session.ts';

export const PASSWORD_NOTICES: Record<string, string> = {
  'password-changed': 'Your password is changed. Every other session is signed out.',
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
    const refuse = (status: number, title: string, message: string, code: string) =>
      pages.error(ctx, { status, title, message, code, backUrl: '/account', backLabel: 'Back to your account' });
    const current = fields.current_password ?? '';
    const next = fields.password ?? '';
    if (current === '')
      return refuse(400, 'Password not changed', 'current_password: enter your current password.', 'invalid_request');
    if (next === '') return refuse(400, 'Password not changed', 'password: enter a new password.', 'invalid_request');

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
        return refuse(
          400,
          'Password not changed',
          'current_password: the current password is not correct.',
          'invalid_request',
        );
      case 'weak_password':
        return refuse(400, 'Password not changed', `password: ${result.message}`, 'invalid_request');
      case 'too_many_attempts':
        ctx.set('Retry-After', String(result.retryAfter ?? 60));
        return refuse(429, 'Too many attempts', 'Wait a while before you try again.', 'too_many_attempts');
      case 'not_found':
        return refuse(404, 'Password not changed', 'Your account could not be found.', 'not_found');
    }
  });
}
