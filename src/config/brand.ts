import { readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { z } from 'zod';

/**
 * Branding of the pages and mails: the product name, a primary colour and a logo, all served
 * from our own origin (no third-party assets, the strict CSP unchanged). Spread into the
 * environment schema in `index.ts`; documented in the README.
 */

/** The largest logo accepted: it is sent with every page view. */
export const MAX_LOGO_BYTES = 100 * 1024;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export const BrandEnv = {
  /** the name in page titles, the page header and mails */
  PRODUCT_NAME: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()))
    .pipe(
      z
        .string()
        // letters, marks, numbers, punctuation, symbols and spaces: no control or format characters
        .regex(/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]{1,64}$/u, 'must be 1 to 64 printable characters')
        .optional(),
    ),
  /** the primary colour of buttons, links and the header mark */
  BRAND_COLOR: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()))
    .pipe(
      z
        .string()
        .regex(/^#[0-9a-fA-F]{6}$/, 'must be a colour written #rrggbb')
        .transform((v) => v.toLowerCase())
        .optional(),
    ),
  /** a local SVG or PNG file shown in the page header instead of the default mark */
  BRAND_LOGO_FILE: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim())),
};

type BrandEnvValues = z.infer<z.ZodObject<typeof BrandEnv>>;

export interface BrandLogo {
  readonly bytes: Buffer;
  readonly type: 'image/svg+xml' | 'image/png';
}

export interface BrandConfig {
  readonly productName: string;
  /** `#rrggbb`, lower case */
  readonly color: string | undefined;
  readonly logo: BrandLogo | undefined;
}

/**
 * Reads the logo once, at start: a PNG (by its signature) or an SVG (an XML document whose root
 * is `<svg>`), at most MAX_LOGO_BYTES.
 * @returns the logo, or the one-line reason it cannot be used
 */
function readLogo(file: string): BrandLogo | string {
  const ext = extname(file).toLowerCase();
  if (ext !== '.svg' && ext !== '.png') return 'must be an .svg or .png file';
  let size: number;
  try {
    const info = statSync(file);
    if (!info.isFile()) return `${file} is not a file`;
    size = info.size;
  } catch (err) {
    const code = (err as { code?: string }).code;
    return code === 'ENOENT' ? `${file} does not exist` : `${file} cannot be read (${code ?? 'error'})`;
  }
  if (size > MAX_LOGO_BYTES) return `${file} is ${size} bytes; a logo may have at most ${MAX_LOGO_BYTES}`;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    return `${file} cannot be read (${(err as { code?: string }).code ?? 'error'})`;
  }
  if (ext === '.png') {
    return bytes.subarray(0, 8).equals(PNG_SIGNATURE) ? { bytes, type: 'image/png' } : `${file} is not a PNG image`;
  }
  // the root element after an optional XML declaration, comments and a doctype
  const text = bytes.toString('utf8');
  const root = /^\uFEFF?\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--[\s\S]*?-->\s*|<!DOCTYPE[^>]*>\s*)*<svg[\s>]/i;
  return root.test(text) ? { bytes, type: 'image/svg+xml' } : `${file} is not an SVG image (no <svg> root element)`;
}

/** The brand settings; a logo that cannot be used is reported as `BRAND_LOGO_FILE: <reason>`. */
export function brandConfig(e: BrandEnvValues, fail: (line: string) => never): BrandConfig {
  let logo: BrandLogo | undefined;
  if (e.BRAND_LOGO_FILE !== undefined) {
    const read = readLogo(e.BRAND_LOGO_FILE);
    if (typeof read === 'string') fail(`BRAND_LOGO_FILE: ${read}`);
    logo = read;
  }
  return Object.freeze({ productName: e.PRODUCT_NAME ?? 'Identity', color: e.BRAND_COLOR, logo });
}
