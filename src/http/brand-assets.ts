import { createHash } from 'node:crypto';
import type { Middleware } from 'koa';
import type { BrandConfig } from '../config/brand.ts';

/** Where the pages find the brand's stylesheet and logo (undefined: the defaults of app.css and the layout). */
export interface BrandLinks {
  stylesheet?: string | undefined;
  logo?: string | undefined;
}

const STYLESHEET_PATH = '/static/brand.css';
const LOGO_PATH = '/static/brand-logo';

type Rgb = [number, number, number];

const rgbOf = (hex: string): Rgb => [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)) as Rgb;
const hexOf = (rgb: Rgb) => `#${rgb.map((c) => Math.round(c).toString(16).padStart(2, '0')).join('')}`;
const mix = (rgb: Rgb, toward: number, amount: number): Rgb => rgb.map((c) => c + (toward - c) * amount) as Rgb;

/** WCAG 2.x relative luminance. */
function luminance(rgb: Rgb): number {
  const [r, g, b] = rgb.map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  }) as Rgb;
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** White or near-black text on `rgb`, whichever contrasts more. */
const textOn = (rgb: Rgb) => {
  const l = luminance(rgb);
  return 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 ? '#ffffff' : '#0b1220';
};

/**
 * The brand colour as CSS custom properties over app.css's defaults: the colour itself in the
 * light scheme, a lighter shade in the dark one, each with a readable text colour. A stylesheet
 * of our own origin, so `style-src 'self'` stays as strict as it is.
 */
export function brandStylesheet(color: string): string {
  const base = rgbOf(color);
  const dark = mix(base, 255, 0.45);
  return [
    ':root {',
    `  --primary: ${color};`,
    `  --primary-hover: ${hexOf(mix(base, 0, 0.18))};`,
    `  --focus: ${color};`,
    `  --on-primary: ${textOn(base)};`,
    '}',
    '@media (prefers-color-scheme: dark) {',
    '  :root {',
    `    --primary: ${hexOf(dark)};`,
    `    --primary-hover: ${hexOf(mix(base, 255, 0.6))};`,
    `    --focus: ${hexOf(mix(base, 255, 0.6))};`,
    `    --on-primary: ${textOn(dark)};`,
    '  }',
    '}',
    '',
  ].join('\n');
}

interface Asset {
  path: string;
  body: Buffer;
  type: string;
  etag: string;
  /** extra headers */
  headers: Record<string, string>;
}

const asset = (path: string, body: Buffer, type: string, headers: Record<string, string> = {}): Asset => {
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 16);
  return { path, body, type, etag: `"${hash}"`, headers };
};

/**
 * Serves the brand's stylesheet and logo, built from the configuration once at start. Their
 * links carry a hash of the content, so a changed logo is fetched again at once.
 */
export function brandAssets(brand: BrandConfig): { links: BrandLinks; middleware: Middleware } {
  const assets: Asset[] = [];
  const links: BrandLinks = {};
  if (brand.color !== undefined) {
    const css = asset(STYLESHEET_PATH, Buffer.from(brandStylesheet(brand.color)), 'text/css; charset=utf-8');
    assets.push(css);
    links.stylesheet = `${STYLESHEET_PATH}?v=${css.etag.slice(1, -1)}`;
  }
  if (brand.logo !== undefined) {
    const svg = brand.logo.type === 'image/svg+xml';
    // an SVG opened on its own is a document: it may run no script and load nothing
    const logo = asset(
      `${LOGO_PATH}${svg ? '.svg' : '.png'}`,
      brand.logo.bytes,
      brand.logo.type,
      svg ? { 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox" } : {},
    );
    assets.push(logo);
    links.logo = `${logo.path}?v=${logo.etag.slice(1, -1)}`;
  }
  const byPath = new Map(assets.map((a) => [a.path, a]));
  const middleware: Middleware = async (ctx, next) => {
    const found = byPath.get(ctx.path);
    if (!found || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    for (const [name, value] of Object.entries(found.headers)) ctx.set(name, value);
    ctx.set('etag', found.etag);
    ctx.set('cache-control', 'public, max-age=86400');
    if (ctx.get('if-none-match') === found.etag) {
      ctx.status = 304;
      return;
    }
    ctx.type = found.type;
    ctx.body = found.body;
  };
  return { links, middleware };
}
