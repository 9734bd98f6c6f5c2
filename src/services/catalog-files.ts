import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Catalog, type Catalogs, canonicalTag, catalogProblems, DEFAULT_LOCALE } from './locales.ts';

/** Thrown at start when a catalog cannot be used; the message is one line naming the file. */
export class CatalogError extends Error {
  override name = 'CatalogError';
}

/**
 * Reads every `<tag>.json` in `dir` (adding a language is adding one file) and checks each
 * against the default language's: the same keys, the same placeholders, text only.
 * @throws CatalogError naming the file and its first problem
 */
export function loadCatalogs(dir: string): Catalogs {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const read = new Map<string, Readonly<Record<string, unknown>>>();
  for (const file of files) {
    const name = file.slice(0, -'.json'.length);
    const tag = canonicalTag(name);
    if (tag !== name)
      throw new CatalogError(`${join(dir, file)}: the file name must be a language tag such as en or zh-CN`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    } catch (err) {
      throw new CatalogError(`${join(dir, file)}: not valid JSON (${(err as Error).message.split('\n')[0]})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new CatalogError(`${join(dir, file)}: must be one JSON object of "key": "text"`);
    }
    read.set(tag, parsed as Record<string, unknown>);
  }
  const reference = read.get(DEFAULT_LOCALE);
  if (!reference) throw new CatalogError(`${join(dir, `${DEFAULT_LOCALE}.json`)}: the default catalog is missing`);
  const catalogs = new Map<string, Catalog>();
  for (const [tag, catalog] of read) {
    const problems = catalogProblems(reference as Catalog, catalog);
    if (problems.length > 0) {
      const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
      throw new CatalogError(`${join(dir, `${tag}.json`)}: ${problems[0]}${more}`);
    }
    catalogs.set(tag, Object.freeze({ ...(catalog as Catalog) }));
  }
  const tags = [DEFAULT_LOCALE, ...[...catalogs.keys()].filter((t) => t !== DEFAULT_LOCALE)];
  const fallback = catalogs.get(DEFAULT_LOCALE) as Catalog;
  return Object.freeze({ tags, catalog: (tag: string) => catalogs.get(tag) ?? fallback });
}
