import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CatalogError, loadCatalogs } from '../../../src/services/catalog-files.ts';
import {
  canonicalTag,
  matchTag,
  negotiateLocale,
  parseAcceptLanguage,
  placeholdersOf,
  translate,
} from '../../../src/services/locales.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const localesDir = join(root, 'views/locales');
const AVAILABLE = ['en', 'zh-CN'];

describe('locale negotiation', () => {
  it('parses Accept-Language by quality, stable among equals, skipping q=0 and malformed entries', () => {
    assert.deepEqual(parseAcceptLanguage('da, en-GB;q=0.8, en;q=0.7'), ['da', 'en-GB', 'en']);
    assert.deepEqual(parseAcceptLanguage('en;q=0.5,zh-CN;q=0.9,fr;q=0.5'), ['zh-CN', 'en', 'fr']);
    assert.deepEqual(parseAcceptLanguage('zh;q=0, en'), ['en']);
    assert.deepEqual(parseAcceptLanguage('zh;q=1.5, en;q=abc, fr;q=0.1234, de;Q=0.3, *;q=0.9, 12;q=1'), ['de']);
    assert.deepEqual(parseAcceptLanguage(' en ; q=1.000 , ja ;q=0.001'), ['en', 'ja']);
    assert.deepEqual(parseAcceptLanguage(''), []);
    assert.deepEqual(parseAcceptLanguage(undefined), []);
    // only the first entries of a long header are read
    assert.equal(parseAcceptLanguage(`${'de,'.repeat(1000)}en`).length, 32);
  });

  it('spells tags as catalogs are named', () => {
    assert.equal(canonicalTag('ZH-hans-cn'), 'zh-Hans-CN');
    assert.equal(canonicalTag('en-us'), 'en-US');
    assert.equal(canonicalTag('es-419'), 'es-419');
    assert.equal(canonicalTag('en_US'), undefined);
    assert.equal(canonicalTag('<b>'), undefined);
    assert.equal(canonicalTag('zh-CN\u0000'), undefined);
    assert.equal(canonicalTag(`en-${'a'.repeat(40)}`), undefined);
  });

  it('matches by language and script, preferring the region, and keeps Traditional Chinese apart', () => {
    assert.equal(matchTag('zh-CN', AVAILABLE), 'zh-CN');
    assert.equal(matchTag('zh', AVAILABLE), 'zh-CN');
    assert.equal(matchTag('zh-Hans', AVAILABLE), 'zh-CN');
    assert.equal(matchTag('zh-SG', AVAILABLE), 'zh-CN');
    assert.equal(matchTag('zh-TW', AVAILABLE), undefined);
    assert.equal(matchTag('zh-Hant-CN', AVAILABLE), undefined);
    assert.equal(matchTag('zh-HK', [...AVAILABLE, 'zh-TW']), 'zh-TW');
    assert.equal(matchTag('en-GB', AVAILABLE), 'en');
    assert.equal(matchTag('en-GB', ['en-US', 'en']), 'en');
    assert.equal(matchTag('en-GB', ['en-US', 'en-GB']), 'en-GB');
    assert.equal(matchTag('fr', AVAILABLE), undefined);
  });

  it('prefers the person’s choice, then ui_locales, then Accept-Language, then English', () => {
    const pick = (request: Parameters<typeof negotiateLocale>[0]) => negotiateLocale(request, AVAILABLE);
    assert.equal(pick({}), 'en');
    assert.equal(pick({ acceptLanguage: 'zh-CN,en;q=0.5' }), 'zh-CN');
    assert.equal(pick({ uiLocales: 'en', acceptLanguage: 'zh-CN' }), 'en');
    assert.equal(pick({ uiLocales: 'fr zh-Hans', acceptLanguage: 'en' }), 'zh-CN');
    assert.equal(pick({ uiLocales: 'fr de', acceptLanguage: 'zh' }), 'zh-CN');
    assert.equal(pick({ chosen: ['zh-CN'], uiLocales: 'en', acceptLanguage: 'en' }), 'zh-CN');
    assert.equal(pick({ chosen: [undefined, 'xx'], uiLocales: 'zh-CN' }), 'zh-CN');
    assert.equal(pick({ uiLocales: ['zh-CN'] }), 'en', 'ui_locales must be a string');
    assert.equal(pick({ uiLocales: 'tlh  ', acceptLanguage: 'de' }), 'en');
  });
});

describe('message catalogs', () => {
  const catalogs = loadCatalogs(localesDir);
  const en = catalogs.catalog('en');

  it('ships English and Simplified Chinese, one file each', () => {
    assert.deepEqual([...catalogs.tags].sort(), ['en', 'zh-CN']);
    assert.deepEqual(readdirSync(localesDir).sort(), ['en.json', 'zh-CN.json']);
  });

  it('gives every catalog exactly the keys of English, with the same placeholders and no markup', () => {
    for (const tag of catalogs.tags) {
      const raw = JSON.parse(readFileSync(join(localesDir, `${tag}.json`), 'utf8')) as Record<string, string>;
      assert.deepEqual(Object.keys(raw).sort(), Object.keys(en).sort(), tag);
      for (const [key, text] of Object.entries(raw)) {
        assert.deepEqual(placeholdersOf(text), placeholdersOf(en[key] ?? ''), `${tag} ${key}`);
        assert.ok(!/[<>]/.test(text), `${tag} ${key} has markup`);
        assert.ok(text.length > 0 || en[key] === '', `${tag} ${key} is empty`);
      }
    }
  });

  it('has a translation of every key the pages and the code use', () => {
    const used = new Set<string>();
    const templates = ['views', 'views/mail'].flatMap((dir) =>
      readdirSync(join(root, dir))
        .filter((f) => f.endsWith('.eta'))
        .map((f) => join(dir, f)),
    );
    for (const file of templates) {
      const text = readFileSync(join(root, file), 'utf8');
      for (const m of text.matchAll(/it\.(?:t|rich)\('([\w.]+[a-z])'/g)) used.add(m[1] ?? '');
      for (const m of text.matchAll(/it\.rich\('(step\.confirm\.lead_)' \+ how/g)) {
        for (const how of ['code', 'code_or_passkey', 'passkey']) {
          used.add(`${m[1]}${how}`);
          used.add(`${m[1]}${how}_client`);
        }
      }
    }
    // the keys handed to the pages from code: error texts (`.title` and `.message`), notices, labels
    const sources = ['src/http', 'src/http/interaction', 'src/http/account', 'src/http/self-service', 'src/wiring'];
    for (const dir of sources) {
      for (const file of readdirSync(join(root, dir)).filter((f) => f.endsWith('.ts'))) {
        const text = readFileSync(join(root, dir, file), 'utf8');
        for (const m of text.matchAll(/text: '([\w.]+)'/g)) {
          used.add(`${m[1]}.title`);
          used.add(`${m[1]}.message`);
        }
        for (const m of text.matchAll(
          /'((?:account|step|totp|login|scope|consent|common|error|self|problem|signup|forgot|reset|verify|mail)\.[a-z_]+(?:\.[a-z_]+)*)'/g,
        )) {
          const key = m[1] ?? '';
          // a page's text names an entry with a `.title` and a `.message`
          const entry = `${key}.title` in en || /^error\.[a-z_]+$/.test(key);
          for (const k of entry ? [`${key}.title`, `${key}.message`] : [key]) used.add(k);
        }
      }
    }
    // every mail's subject (`mail.<template>.subject`, looked up by the mailer)
    for (const file of templates.filter((f) => f.endsWith('.text.eta'))) {
      used.add(`mail.${file.slice('views/mail/'.length, -'.text.eta'.length)}.subject`);
    }
    for (const code of ['invalid_username', 'username_taken', 'invalid_email', 'same_email', 'wrong_password']) {
      used.add(`problem.${code}`);
    }
    for (const code of ['too_short', 'too_long', 'too_common', 'is_identifier']) used.add(`problem.password_${code}`);
    for (const code of ['too_short', 'too_long', 'too_common', 'is_identifier', 'unchanged']) {
      used.add(`error.password.password_${code}.title`);
      used.add(`error.password.password_${code}.message`);
    }
    for (const what of ['session', 'application']) {
      used.add(`error.no_${what}.title`);
      used.add(`error.no_${what}.message`);
    }
    for (const what of ['reset', 'signup']) {
      used.add(`error.unavailable_${what}.title`);
      used.add(`error.unavailable_${what}.message`);
    }
    assert.ok(used.size > 150, `found ${used.size} keys`);
    const missing = [...used].filter((key) => !(key in en));
    assert.deepEqual(missing, []);
  });

  it('fills placeholders and leaves unknown keys visible', () => {
    assert.equal(translate(en, 'logged_out.return_to', { client: 'Shop' }), 'Return to Shop');
    assert.equal(translate(catalogs.catalog('zh-CN'), 'logged_out.return_to', { client: 'Shop' }), '返回 Shop');
    assert.equal(translate(en, 'no.such.key'), 'no.such.key');
    // a value is not read for placeholders again
    assert.equal(translate(en, 'logged_out.return_to', { client: '{client}' }), 'Return to {client}');
    assert.equal(catalogs.catalog('fr'), en);
  });

  it('refuses at start a catalog with missing or extra keys, other placeholders, markup or a bad name', () => {
    const write = (files: Record<string, unknown>) => {
      const dir = mkdtempSync(join(tmpdir(), 'idp-locales-'));
      for (const [name, body] of Object.entries(files)) {
        writeFileSync(join(dir, name), typeof body === 'string' ? body : JSON.stringify(body));
      }
      return dir;
    };
    const base = { 'a.b': 'Hello {name}', 'c.d': 'Bye' };
    assert.deepEqual(
      loadCatalogs(write({ 'en.json': base, 'de.json': { 'a.b': 'Hallo {name}', 'c.d': 'Tschüss' } })).tags,
      ['en', 'de'],
    );
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ 'de.json': { 'a.b': 'Hallo {name}' } }, /de\.json: missing key "c\.d"$/],
      [{ 'de.json': { ...base, 'e.f': 'x' } }, /de\.json: unknown key "e\.f"/],
      [
        { 'de.json': { 'a.b': 'Hallo {nom}', 'c.d': 'x' } },
        /de\.json: "a\.b" has placeholders \{nom\} instead of \{name\}/,
      ],
      [{ 'de.json': { 'a.b': 'Hallo <b>{name}</b>', 'c.d': 'x' } }, /de\.json: "a\.b" contains < or >/],
      [{ 'de.json': { 'a.b': 1, 'c.d': 'x' } }, /"a\.b" is not a string/],
      [{ 'de.json': '{ not json' }, /de\.json: not valid JSON/],
      [{ 'de.json': '["a"]' }, /de\.json: must be one JSON object/],
      [{ 'de_DE.json': base }, /de_DE\.json: the file name must be a language tag/],
      [{ 'zh-cn.json': base }, /zh-cn\.json: the file name must be a language tag/],
    ];
    for (const [files, message] of cases) {
      assert.throws(
        () => loadCatalogs(write({ 'en.json': base, ...files })),
        (err: Error) => err instanceof CatalogError && message.test(err.message) && !err.message.includes('\n'),
        String(message),
      );
    }
    assert.throws(() => loadCatalogs(write({ 'de.json': base })), /en\.json: the default catalog is missing/);
    assert.throws(() => loadCatalogs(write({ 'en.json': { 'a.b': '<i>x</i>' } })), /en\.json: "a\.b" contains < or >/);
  });
});
