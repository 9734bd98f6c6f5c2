import { Eta } from 'eta';
import type { Context } from 'koa';
import { ensureSecurityHeaders, restrictFormAction } from './middleware/security-headers.ts';

/** The page script and the library it uses, both from our own origin (DESIGN §4: no third-party resources). */
export const PASSKEY_SCRIPTS = ['/static/vendor/simplewebauthn-browser.js', '/static/passkeys.js'] as const;

export interface PasskeyView {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | undefined;
  synced: boolean;
}

export interface AccountPageData {
  csrf: string;
  displayName: string;
  username: string;
  passkeys: PasskeyView[];
  mfaRequired: boolean;
  notice?: string | undefined;
  error?: string | undefined;
}

export interface StepPageData {
  uid: string;
  csrf: string;
  mode: 'second-factor' | 'offer';
  clientName?: string | undefined;
  redirectUri?: string | undefined;
}

export interface PasskeyPages {
  account(ctx: Context, data: AccountPageData): void;
  step(ctx: Context, data: StepPageData): void;
}

/** Renders the account page and the passkey step of sign-in with the shared layout and security headers. */
export function createPasskeyPages(options: { viewsDir: string; siteName?: string }): PasskeyPages {
  const siteName = options.siteName ?? 'Identity';
  const eta = new Eta({ views: options.viewsDir, autoEscape: true, cache: true, defaultExtension: '.eta' });
  const render = (ctx: Context, template: string, data: object, formTargets: (string | undefined)[]) => {
    const nonce = ensureSecurityHeaders(ctx);
    restrictFormAction(
      ctx,
      formTargets.filter((t): t is string => typeof t === 'string'),
    );
    ctx.set('cache-control', 'no-store');
    ctx.type = 'html';
    ctx.status = 200;
    ctx.body = eta.render(template, { ...data, nonce, siteName, scripts: PASSKEY_SCRIPTS });
  };
  return {
    account: (ctx, data) => render(ctx, 'account', data, []),
    step: (ctx, data) => render(ctx, 'passkey-step', data, [data.redirectUri]),
  };
}
