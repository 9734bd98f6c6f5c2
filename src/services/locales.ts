/**
 * Languages of the pages and mails: message catalogs (one flat JSON file per language tag,
 * `views/locales/<tag>.json`), the choice of a language for a request, and interpolation.
 *
 * A catalog is text only: placeholders are `{name}`, never markup. Pages escape both the text
 * and the values (eta's auto-escape), so no catalog string can inject HTML.
 */

/** The language every other catalog is checked against and falls back to. */
export const DEFAULT_LOCALE = 'en';

export type Catalog = Readonly<Record<string, string>>;

export interface Catalogs {
  /** the tags shipped, the default first, as spelled by their file names (`en`, `zh-CN`) */
  readonly tags: readonly string[];
  /** the catalog of `tag` (one of `tags`), or the default's */
  catalog(tag: string): Catalog;
}

export type MessageVars = Readonly<Record<string, string | number>>;

/** A translator for one language: `t('login.title')`, `t('error.wait', { minutes: 3 })`. */
export type Translate = (key: string, vars?: MessageVars) => string;

/** Looks up `key` and fills `{name}` placeholders; an unknown key shows itself (a test keeps them known). */
export function translate(catalog: Catalog, key: string, vars: MessageVars = {}): string {
  const text = catalog[key];
  if (text === undefined) return key;
  return text.replace(PLACEHOLDER, (whole, name: string) => {
    const value = vars[name];
    return value === undefined ? whole : String(value);
  });
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);

/**
 * The message as HTML: the catalog text escaped, each placeholder's value escaped and in
 * `<strong>` (those of `plain` escaped only). Safe to output unescaped (`<%~ %>`): neither the catalog nor a value adds markup.
 */
export function translateHtml(catalog: Catalog, key: string, vars: MessageVars = {}, plain: MessageVars = {}): string {
  const strong: Record<string, string> = {};
  for (const [name, value] of Object.entries(plain)) strong[name] = escapeHtml(String(value));
  for (const [name, value] of Object.entries(vars)) strong[name] = `<strong>${escapeHtml(String(value))}</strong>`;
  return translate({ [key]: escapeHtml(catalog[key] ?? key) }, key, strong);
}

const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_]*)\}/g;

/** The placeholder names of a message, sorted (two translations of it must have the same). */
export function placeholdersOf(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1] ?? ''))].sort();
}

/** A BCP 47 tag of the simple form people and browsers send (language, script, region, variants). */
const TAG = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/;

/** The form catalogs are named in: language lower case, script title case, region upper case (`zh-Hans-CN`). */
export function canonicalTag(tag: string): string | undefined {
  if (tag.length > 35 || !TAG.test(tag)) return undefined;
  const [language, ...rest] = tag.split('-');
  const parts = [(language ?? '').toLowerCase()];
  for (const part of rest) {
    if (/^[A-Za-z]{4}$/.test(part)) parts.push(part[0]?.toUpperCase() + part.slice(1).toLowerCase());
    else if (/^(?:[A-Za-z]{2}|\d{3})$/.test(part)) parts.push(part.toUpperCase());
    else parts.push(part.toLowerCase());
  }
  return parts.join('-');
}

interface TagParts {
  language: string;
  script: string | undefined;
  region: string | undefined;
}

// Chinese is written in two scripts; a tag without one implies it from the region
const TRADITIONAL_REGIONS = new Set(['TW', 'HK', 'MO']);

function partsOf(tag: string): TagParts {
  const [language = '', ...rest] = tag.split('-');
  const script = rest.find((p) => /^[A-Z][a-z]{3}$/.test(p));
  const region = rest.find((p) => /^(?:[A-Z]{2}|\d{3})$/.test(p));
  const implied = language === 'zh' ? (region && TRADITIONAL_REGIONS.has(region) ? 'Hant' : 'Hans') : undefined;
  return { language, script: script ?? implied, region };
}

/**
 * The catalog for one requested tag: the same tag, else one of the same language and script,
 * preferring the same region, then the catalog without a region (`en-GB` -> `en`, `zh` and
 * `zh-Hans-SG` -> `zh-CN`, but `zh-TW` -> nothing while no Traditional Chinese catalog exists).
 */
export function matchTag(requested: string, available: readonly string[]): string | undefined {
  const wanted = canonicalTag(requested);
  if (wanted === undefined) return undefined;
  const exact = available.find((tag) => tag === wanted);
  if (exact) return exact;
  const want = partsOf(wanted);
  const candidates = available.filter((tag) => {
    const have = partsOf(tag);
    return have.language === want.language && have.script === want.script;
  });
  return (
    candidates.find((tag) => partsOf(tag).region === want.region) ??
    candidates.find((tag) => partsOf(tag).region === undefined) ??
    candidates[0]
  );
}

/** At most this many entries of a list are looked at: a huge header costs no more than a normal one. */
const MAX_ENTRIES = 32;

/**
 * `Accept-Language` (RFC 9110 §12.5.4): the tags by quality, highest first, the header's order
 * among equals; `q=0` means "not this one", and an entry with a malformed tag or quality is skipped.
 */
export function parseAcceptLanguage(header: string | undefined): string[] {
  if (!header) return [];
  const entries: { tag: string; q: number; at: number }[] = [];
  for (const [at, raw] of header.split(',').slice(0, MAX_ENTRIES).entries()) {
    const [range = '', ...params] = raw.split(';').map((s) => s.trim());
    if (range === '*' || !TAG.test(range) || range.length > 35) continue;
    let q = 1;
    let valid = true;
    for (const param of params) {
      const match = /^q=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/i.exec(param);
      if (match?.[1] === undefined) {
        valid = false;
        break;
      }
      q = Number(match[1]);
    }
    if (valid && q > 0) entries.push({ tag: range, q, at });
  }
  return entries.sort((a, b) => b.q - a.q || a.at - b.at).map((e) => e.tag);
}

/** OIDC Core §3.1.2.1 `ui_locales`: space-separated tags in order of preference. */
function parseUiLocales(value: unknown): string[] {
  if (typeof value !== 'string') return [];
  return value
    .split(' ')
    .filter((t) => t !== '')
    .slice(0, MAX_ENTRIES);
}

export interface LocaleRequest {
  /** the language the person picked on our pages (the switcher), newest first */
  chosen?: readonly (string | undefined)[] | undefined;
  /** the application's `ui_locales` for this interaction */
  uiLocales?: unknown;
  acceptLanguage?: string | undefined;
}

/**
 * The language of a page: what the person picked on our pages, then the application's
 * `ui_locales`, then the browser's `Accept-Language`, then the default. Each list is tried in
 * its own order; the first tag with a catalog wins.
 */
export function negotiateLocale(request: LocaleRequest, available: readonly string[]): string {
  const lists = [
    (request.chosen ?? []).filter((t): t is string => typeof t === 'string'),
    parseUiLocales(request.uiLocales),
    parseAcceptLanguage(request.acceptLanguage),
  ];
  for (const list of lists) {
    for (const tag of list) {
      const match = matchTag(tag, available);
      if (match) return match;
    }
  }
  return available.includes(DEFAULT_LOCALE) ? DEFAULT_LOCALE : (available[0] ?? DEFAULT_LOCALE);
}

/** What is wrong with `catalog` next to the default one: missing or extra keys, other placeholders, non-text values. */
export function catalogProblems(reference: Catalog, catalog: Readonly<Record<string, unknown>>): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(reference)) {
    const text = catalog[key];
    if (text === undefined) problems.push(`missing key "${key}"`);
    else if (typeof text !== 'string') problems.push(`"${key}" is not a string`);
    else if (placeholdersOf(text).join() !== placeholdersOf(reference[key] ?? '').join()) {
      problems.push(
        `"${key}" has placeholders {${placeholdersOf(text).join('}, {')}} instead of {${placeholdersOf(reference[key] ?? '').join('}, {')}}`,
      );
    } else if (/[<>]/.test(text)) problems.push(`"${key}" contains < or > (catalogs hold text, not markup)`);
  }
  for (const key of Object.keys(catalog)) if (!(key in reference)) problems.push(`unknown key "${key}"`);
  return problems;
}
