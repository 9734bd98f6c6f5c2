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
  /** the email section (src/http/account/email-routes.ts) */
  email: string | null;
  emailVerified: boolean;
  passkeys: PasskeyView[];
  mfaRequired: boolean;
  /** the account has a passkey and this session has not proved one recently: changes need a step-up */
  stepUpRequired: boolean;
  /** the second-factor section (views/account-second-factors.eta): an authenticator app, recovery codes left */
  secondFactors: { totp: boolean; recoveryCodes: number; hasPasskeys: boolean };
  /** new passkeys, announced to the owner (src/services/account-changes.ts) */
  securityNotices: { name: string; at: string }[];
  notice?: string | undefined;
  error?: string | undefined;
}

export interface StepPageData {
  uid: string;
  csrf: string;
  mode: 'second-factor' | 'offer';
  /** the second-factor step: a code form, a passkey button (absent: the passkey only) */
  methods?: { code: boolean; passkey: boolean } | undefined;
  /** a refused code, in fixed words */
  error?: string | undefined;
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
      pages.render(
        ctx,
        'passkey-step',
        { methods: { code: false, passkey: true }, error: undefined, ...data, scripts: PASSKEY_SCRIPTS },
        [data.redirectUri],
        200,
      ),
  };
}
