import type { Context } from 'koa';
import {
  type Catalogs,
  type MessageVars,
  matchTag,
  negotiateLocale,
  type Translate,
  translate,
  translateHtml,
} from '../services/locales.ts';

/** The language picked with the switcher on our pages (`?lang=`), remembered by this browser. */
const LOCALE_COOKIE = 'idp_locale';
const LOCALE_COOKIE_DAYS = 365;

/** Pages whose language can be switched by a link to themselves (only ids and fixed words in the URL). */
const SWITCHABLE = /^\/interaction\/[A-Za-z0-9_-]{1,128}(?=\/|$)|^\/account(?:\/totp)?$/;

/** What the templates get to speak the request's language. */
export interface LocalePageData {
  /** `<html lang>` */
  lang: string;
  t: Translate;
  /**
   * The message with each placeholder's value escaped and in `<strong>`; the catalog text is
   * escaped too, so the result is safe HTML (`<%~ it.rich(...) %>`).
   */
  rich: (key: string, vars: MessageVars) => string;
  /** the language switcher: one link per catalog, or none on a page that cannot be reloaded by GET */
  languages: { tag: string; name: string; href: string; current: boolean }[];
}

/** The language of each request (../services/locales.ts decides; this reads the request). */
export function createLocales(catalogs: Catalogs) {
  const names = new Map(catalogs.tags.map((tag) => [tag, translate(catalogs.catalog(tag), 'language.name')]));

  /** The application's `ui_locales`: from the interaction our routes loaded, or oidc-provider's request. */
  const uiLocalesOf = (ctx: Context): unknown => {
    const state = ctx.state as { interaction?: { details?: { params?: Record<string, unknown> } } };
    const fromInteraction = state.interaction?.details?.params?.ui_locales;
    if (fromInteraction !== undefined) return fromInteraction;
    return (ctx as Context & { oidc?: { params?: Record<string, unknown> } }).oidc?.params?.ui_locales;
  };

  const localeOf = (ctx: Context): string => {
    const state = ctx.state as { locale?: string };
    if (state.locale !== undefined) return state.locale;
    const asked = ctx.method === 'GET' && typeof ctx.query.lang === 'string' ? ctx.query.lang : undefined;
    const picked = asked === undefined ? undefined : matchTag(asked, catalogs.tags);
    if (picked !== undefined) {
      ctx.cookies.set(LOCALE_COOKIE, picked, {
        httpOnly: true,
        sameSite: 'lax',
        secure: ctx.secure,
        path: '/',
        maxAge: LOCALE_COOKIE_DAYS * 86_400_000,
        overwrite: true,
      });
    }
    const locale = negotiateLocale(
      {
        chosen: [picked, ctx.cookies.get(LOCALE_COOKIE)],
        uiLocales: uiLocalesOf(ctx),
        acceptLanguage: ctx.get('accept-language'),
      },
      catalogs.tags,
    );
    state.locale = locale;
    return locale;
  };

  const pageData = (ctx: Context): LocalePageData => {
    const lang = localeOf(ctx);
    const catalog = catalogs.catalog(lang);
    const t: Translate = (key, vars) => translate(catalog, key, vars);
    const rich = (key: string, vars: MessageVars) => translateHtml(catalog, key, vars);
    const base = ctx.status < 400 ? SWITCHABLE.exec(ctx.path)?.[0] : undefined;
    const languages =
      base === undefined || catalogs.tags.length < 2
        ? []
        : catalogs.tags.map((tag) => ({
            tag,
            name: names.get(tag) ?? tag,
            href: `${base}?lang=${encodeURIComponent(tag)}`,
            current: tag === lang,
          }));
    return { lang, t, rich, languages };
  };

  return { localeOf, pageData };
}
