import { Eta } from 'eta';
import type { Context } from 'koa';
import type { ErrorOut, KoaContextWithOIDC } from 'oidc-provider';
import type { AppError } from '../errors.ts';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../services/availability.ts';
import type { Catalogs, MessageVars } from '../services/locales.ts';
import type { BrandLinks } from './brand-assets.ts';
import { describePermissions, type Permission } from './interaction/scopes.ts';
import { createLocales } from './locale.ts';
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
}

export interface ErrorPageData {
  status?: number | undefined;
  /**
   * The catalog entry of the page's words: `<text>.title` is the heading, `<text>.message` the
   * explanation (views/locales/*.json).
   */
  text: string;
  /** placeholders of the message */
  vars?: MessageVars | undefined;
  /** a stable error code shown small, for support */
  code?: string | undefined;
  /** a technical detail for the application's developer (4xx only, never internals), not translated */
  detail?: string | undefined;
  backUrl?: string | undefined;
  /** catalog key of the way back's label */
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
  /** the language this request's pages are shown in (./locale.ts) */
  localeOf(ctx: Context): string;
}

export interface PagesOptions {
  viewsDir: string;
  /** the message catalogs of views/locales */
  catalogs: Catalogs;
  /** the product name in titles, the header and mails (PRODUCT_NAME) */
  siteName?: string;
  /** BRAND_COLOR and BRAND_LOGO_FILE, served by ./brand-assets.ts */
  brand?: BrandLinks | undefined;
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

/** oidc-provider's error codes that have their own words (`error.oidc.<code>.title` / `.message`). */
const OIDC_ERRORS = new Set([
  'invalid_redirect_uri',
  'invalid_client',
  'invalid_request',
  'access_denied',
  'login_required',
  'session_not_found',
]);

export function createPages(options: PagesOptions): Pages {
  const siteName = options.siteName ?? 'Identity';
  const homeUrl = options.homeUrl ?? '/account';
  const issuerOrigin = options.issuer === undefined ? undefined : new URL(options.issuer).origin;
  const eta = new Eta({ views: options.viewsDir, autoEscape: true, cache: true, defaultExtension: '.eta' });
  const locales = createLocales(options.catalogs);

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
    // the language follows the request's headers and cookie
    ctx.vary('Accept-Language');
    ctx.type = 'html';
    // before the locale data: a page that is an error offers no language switch
    ctx.status = status ?? 200;
    // (Koa 3's ctx.origin is the Origin request header, not ours)
    const origin = issuerOrigin ?? `${ctx.protocol}://${ctx.host}`;
    const locale = locales.pageData(ctx);
    ctx.set('content-language', locale.lang);
    ctx.body = eta.render(template, {
      ...data,
      ...locale,
      nonce,
      siteName,
      brand: options.brand ?? {},
      origin,
    });
  };

  const error: Pages['error'] = (ctx, data) =>
    render(
      ctx,
      'error',
      {
        text: data.text,
        vars: data.vars ?? {},
        code: data.code,
        detail: data.detail,
        backUrl: data.backUrl ?? homeUrl,
        backLabel: data.backLabel ?? 'common.go_to_account',
      },
      [],
      data.status ?? 400,
    );

  return {
    render,
    localeOf: locales.localeOf,
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
        { href: webUrl(data.links?.policyUri), label: 'consent.link.policy' },
        { href: webUrl(data.links?.tosUri), label: 'consent.link.tos' },
        { href: webUrl(data.links?.clientUri), label: 'consent.link.website' },
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
      render(ctx, 'logged-out', { clientName: data.clientName, backUrl: webUrl(data.backUrl) }, [], 200),

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
      render(
        ctx,
        'logged-out',
        { clientName: client?.clientName ?? client?.clientId, backUrl: webUrl(client?.clientUri) },
        [],
        200,
      );
    },

    appError(ctx, err) {
      const known = err.status < 500 && OIDC_ERRORS.has(err.code);
      error(ctx, {
        status: err.status,
        text:
          err.status === 503
            ? 'error.unavailable'
            : err.status >= 500
              ? 'error.generic'
              : known
                ? `error.oidc.${err.code}`
                : 'error.request',
        code: err.status >= 500 && err.status !== 503 ? 'server_error' : err.code,
        // the service's own (English) words stay as a detail; 5xx never shows them
        detail: err.status < 500 && !known ? err.message : undefined,
      });
    },

    renderError(ctx, out, err) {
      // oidc-provider met a database out of reach (sessions, interactions and codes live there):
      // 503 and when to retry (RFC 9110 §15.6.4), not "something went wrong"
      if (isDatabaseUnavailable(err)) {
        ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
        return error(ctx, { status: 503, text: 'error.unavailable', code: 'temporarily_unavailable' });
      }
      const status = ctx.status >= 400 ? ctx.status : 400;
      const known = status < 500 && OIDC_ERRORS.has(out.error);
      error(ctx, {
        status,
        text: known ? `error.oidc.${out.error}` : 'error.generic',
        code: status >= 500 ? 'server_error' : out.error,
        // oidc-provider's descriptions of a client's mistakes help its developer; a 5xx's never leaves the server
        detail: status < 500 ? out.error_description : undefined,
      });
    },
  };
}
