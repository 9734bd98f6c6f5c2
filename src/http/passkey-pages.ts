import type { Context } from 'koa';
import type { SessionsSection } from './account/session-routes.ts';
import type { Pages } from './pages.ts';

/** The page script and the library it uses, both from our own origin (no third-party resources). */
const PASSKEY_SCRIPTS = ['/static/vendor/simplewebauthn-browser.js', '/static/passkeys.js'] as const;

export interface PasskeyView {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | undefined;
  synced: boolean;
}

export interface AccountPageData extends SessionsSection {
  csrf: string;
  displayName: string;
  username: string;
  passkeys: PasskeyView[];
  mfaRequired: boolean;
  /** the account has a passkey and this session has not proved one recently: changes need a step-up */
  stepUpRequired: boolean;
  /** new passkeys, announced to the owner (src/services/account-changes.ts) */
  securityNotices: { name: string; at: string }[];
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

/** Renders the account page and the passkey step of sign-in through the shared page renderer. */
export function createPasskeyPages(pages: Pick<Pages, 'render'>): PasskeyPages {
  return {
    account: (ctx, data) => pages.render(ctx, 'account', { ...data, scripts: PASSKEY_SCRIPTS }, [], 200),
    step: (ctx, data) =>
      pages.render(ctx, 'passkey-step', { ...data, scripts: PASSKEY_SCRIPTS }, [data.redirectUri], 200),
  };
}
