import { Eta } from 'eta';
import type { Context } from 'koa';
import type { ErrorOut, KoaContextWithOIDC } from 'oidc-provider';
import type { AppError } from '../errors.ts';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../services/availability.ts';
import { describePermissions, type Permission } from './interaction/scopes.ts';
import { ensureSecurityHeaders, restrictFormAction } from './middleware/security-headers.ts';

export interface LoginPageData {
  uid: string;
  csrf: string;
  clientName?: string | undefined;
  /** kept after a failed attempt */
  username?: string | undefined;
  error?: string | undefined;
  /** shows the passkey button when the browser supports WebAuthn */
  passkeys?: boolean | undefined;
  /** the client's redirect_uri: where the redirects after this form lead (CSP form-action) */
  redirectUri?: string | undefined;
  status?: number | undefined;
}

export interface ConsentPageData {
  uid: string;
  csrf: string;
  clientName: string;
  accountName?: string | undefined;
  /** OIDC scopes being asked for (openid, profile, email, offline_access, ...) */
  scopes: readonly string[];
  /** API scopes being asked for, by resource indicator */
  resourceScopes?: Readonly<Record<string, readonly string[]>> | undefined;
  /** display names of resource indicators, when known */
  resourceNames?: Readonly<Record<string, string>> | undefined;
  links?: { clientUri?: string | undefined; policyUri?: string | undefined; tosUri?: string | undefined } | undefined;
  redirectUri?: string | undefined;
}

export interface LogoutPageData {
  /** oidc-provider's `<form id="op.logoutForm">` with its xsrf input */
  form: string;
  clientName?: string | undefined;
  postLogoutRedirectUri?: string | undefined;
}

export interface LoggedOutPageData {
  clientName?: string | undefined;
  backUrl?: string | undefined;
  backLabel?: string | undefined;
}

export interface ErrorPageData {
  status?: number | undefined;
  title: string;
  message: string;
  /** a stable error code shown small, for support */
  code?: string | undefined;
  /** a technical detail for the application's developer (4xx only, never internals) */
  detail?: string | undefined;
  backUrl?: string | undefined;
  backLabel?: string | undefined;
}

export interface Pages {
  login(ctx: Context, data: LoginPageData): void;
  consent(ctx: Context, data: ConsentPageData): void;
  logout(ctx: Context, data: LogoutPageData): void;
  loggedOut(ctx: Context, data: LoggedOutPageData): void;
  error(ctx: Context, data: ErrorPageData): void;
  /** `features.rpInitiatedLogout.logoutSource` */
  logoutSource(ctx: KoaContextWithOIDC, form: string): void;
  /** `features.rpInitiatedLogout.postLogoutSuccessSource` */
  postLogoutSuccessSource(ctx: KoaContextWithOIDC): void;
  /** `renderError`: never shows a stack trace or an internal message */
  renderError(ctx: KoaContextWithOIDC, out: ErrorOut, error: unknown): void;
  /** an error no route handled, for a browser (the error writer sets the status after it) */
  appError(ctx: Context, err: AppError): void;
  /** any template in views/ with the shared layout data, security headers and form targets */
  render(
    ctx: Context,
    template: string,
    data: Record<string, unknown>,
    formTargets?: readonly (string | undefined)[],
    status?: number,
  ): void;
}

export interface PagesOptions {
  viewsDir: string;
  /** the product name in titles and the header */
  siteName?: string;
  /** where "a way back" leads when nothing better is known */
  homeUrl?: string;
  /** the issuer; the sign-in page tells people to check that the address bar shows its origin */
  issuer?: string;
  /** which self-service links the sign-in page shows (they need mail) */
  selfService?: { passwordReset: boolean; signup: boolean };
}

/** Only web links are shown: a client's metadata must not put `javascript:` into a page. */
const webUrl = (value: unknown): string | undefined => {
  if (typeof value !== 'string') return undefined;
  const url = URL.parse(value);
  return url && (url.protocol === 'https:' || url.protocol === 'http:') ? url.href : undefined;
};

/** Words for oidc-provider's error codes; the description it sends along is shown only where it is for people. */
const ERROR_TEXT: Record<string, { title: string; message: string }> = {
  invalid_redirect_uri: {
    title: 'This sign-in link is not valid',
    message:
      'The application sent you here with a return address it has not registered, so we stopped to keep your account safe. Go back to the application and try again, or tell its owner.',
  },
  invalid_client: {
    title: 'Unknown application',
    message: 'The application that sent you here is not registered with this server.',
  },
  invalid_request: {
    title: 'Something is wrong with this request',
    message: 'The application sent an incomplete or invalid sign-in request.',
  },
  access_denied: { title: 'Access denied', message: 'The request was denied.' },
  login_required: { title: 'Sign-in required', message: 'You need to sign in to continue.' },
  session_not_found: {
    title: 'This sign-in page has expired',
    message: 'Sign-in pages are valid for a short time only. Go back to the application and start again.',
  },
};

const UNAVAILABLE = {
  title: 'Temporarily unavailable',
  message: 'The server cannot complete this step at the moment. Please try again in a minute.',
};

const GENERIC_ERROR = {
  title: 'Something went wrong',
  message: 'The server could not complete your request. Please try again in a moment.',
};

export function createPages(options: PagesOptions): Pages {
  const siteName = options.siteName ?? 'Identity';
  const homeUrl = options.homeUrl ?? '/account';
  const issuerOrigin = options.issuer === undefined ? undefined : new URL(options.issuer).origin;
  const eta = new Eta({ views: options.viewsDir, autoEscape: true, cache: true, defaultExtension: '.eta' });

  const render = (
    ctx: Context,
    template: string,
    data: Record<string, unknown>,
    formTargets: readonly (string | undefined)[] = [],
    status?: number,
  ) => {
    const nonce = ensureSecurityHeaders(ctx);
    restrictFormAction(
      ctx,
      formTargets.filter((t): t is string => typeof t === 'string'),
    );
    // pages hold CSRF tokens and personal details: never from a cache
    ctx.set('cache-control', 'no-store');
    ctx.type = 'html';
    if (status !== undefined) ctx.status = status;
    // (Koa 3's ctx.origin is the Origin request header, not ours)
    const origin = issuerOrigin ?? `${ctx.protocol}://${ctx.host}`;
    ctx.body = eta.render(template, { ...data, nonce, siteName, origin });
  };

  const error: Pages['error'] = (ctx, data) =>
    render(
      ctx,
      'error',
      {
        title: data.title,
        message: data.message,
        code: data.code,
        detail: data.detail,
        backUrl: data.backUrl ?? homeUrl,
        backLabel: data.backLabel ?? 'Go to your account',
      },
      [],
      data.status ?? 400,
    );

  return {
    render,
    login: (ctx, data) =>
      render(
        ctx,
        'login',
        {
          uid: data.uid,
          csrf: data.csrf,
          clientName: data.clientName,
          username: data.username,
          error: data.error,
          passkeys: data.passkeys ?? false,
          passwordReset: options.selfService?.passwordReset ?? false,
          signup: options.selfService?.signup ?? false,
        },
        [data.redirectUri],
        data.status ?? 200,
      ),

    consent(ctx, data) {
      const permissions: Permission[] = describePermissions(data.scopes, data.resourceScopes, data.resourceNames);
      const links = [
        { href: webUrl(data.links?.policyUri), label: 'privacy policy' },
        { href: webUrl(data.links?.tosUri), label: 'terms of service' },
        { href: webUrl(data.links?.clientUri), label: 'website' },
      ].filter((l) => l.href !== undefined);
      render(
        ctx,
        'consent',
        {
          uid: data.uid,
          csrf: data.csrf,
          clientName: data.clientName,
          accountName: data.accountName,
          permissions,
          links,
        },
        [data.redirectUri],
        200,
      );
    },

    logout: (ctx, data) =>
      render(ctx, 'logout', { form: data.form, clientName: data.clientName }, [data.postLogoutRedirectUri], 200),

    loggedOut: (ctx, data) =>
      render(
        ctx,
        'logged-out',
        {
          clientName: data.clientName,
          backUrl: webUrl(data.backUrl),
          backLabel: data.backLabel ?? (data.clientName ? `Return to ${data.clientName}` : 'Continue'),
        },
        [],
        200,
      ),

    error,

    logoutSource(ctx, form) {
      const client = ctx.oidc.client;
      const redirect = ctx.oidc.params?.post_logout_redirect_uri;
      render(
        ctx,
        'logout',
        { form, clientName: client?.clientName ?? client?.clientId },
        [typeof redirect === 'string' ? redirect : undefined],
        200,
      );
    },

    postLogoutSuccessSource(ctx) {
      const client = ctx.oidc.client;
      const clientName = client?.clientName ?? client?.clientId;
      render(
        ctx,
        'logged-out',
        {
          clientName,
          backUrl: webUrl(client?.clientUri),
          backLabel: clientName ? `Return to ${clientName}` : 'Continue',
        },
        [],
        200,
      );
    },

    appError(ctx, err) {
      const text =
        err.status === 503
          ? UNAVAILABLE
          : err.status >= 500
            ? GENERIC_ERROR
            : (ERROR_TEXT[err.code] ?? { title: 'This request could not be completed', message: err.message });
      error(ctx, {
        status: err.status,
        ...text,
        code: err.status >= 500 && err.status !== 503 ? 'server_error' : err.code,
      });
    },

    renderError(ctx, out, err) {
      // oidc-provider met a database out of reach (sessions, interactions and codes live there):
      // 503 and when to retry (RFC 9110 §15.6.4), not "something went wrong"
      if (isDatabaseUnavailable(err)) {
        ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
        return error(ctx, { status: 503, ...UNAVAILABLE, code: 'temporarily_unavailable' });
      }
      const status = ctx.status >= 400 ? ctx.status : 400;
      const text = (status >= 500 ? undefined : ERROR_TEXT[out.error]) ?? GENERIC_ERROR;
      error(ctx, {
        status,
        title: text.title,
        message: text.message,
        code: status >= 500 ? 'server_error' : out.error,
        // oidc-provider's descriptions of a client's mistakes help its developer; a 5xx's never leaves the server
        detail: status < 500 ? out.error_description : undefined,
      });
    },
  };
}
