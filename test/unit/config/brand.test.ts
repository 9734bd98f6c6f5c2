import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MAX_LOGO_BYTES } from '../../../src/config/brand.ts';
import { ConfigError, loadConfig } from '../../../src/config/index.ts';
import { brandStylesheet } from '../../../src/http/brand-assets.ts';

const dir = mkdtempSync(join(tmpdir(), 'idp-brand-'));
const file = (name: string, body: string | Buffer) => {
  writeFileSync(join(dir, name), body);
  return join(dir, name);
};
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
const refuses = (env: Record<string, string>, message: RegExp) =>
  assert.throws(
    () => loadConfig(env),
    (err: Error) => err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'),
    String(message),
  );

describe('branding configuration', () => {
  it('has defaults: the product name Identity, no colour, no logo', () => {
    assert.deepEqual(loadConfig({}).brand, { productName: 'Identity', color: undefined, logo: undefined });
  });

  it('takes a product name, a #rrggbb colour and an SVG or PNG logo', () => {
    const svg = file('logo.svg', '<?xml version="1.0"?>\n<!-- mark -->\n<svg xmlns="http://www.w3.org/2000/svg"/>');
    const brand = loadConfig({ PRODUCT_NAME: '  Acme 身份  ', BRAND_COLOR: '#A1B2C3', BRAND_LOGO_FILE: svg }).brand;
    assert.equal(brand.productName, 'Acme 身份');
    assert.equal(brand.color, '#a1b2c3');
    assert.equal(brand.logo?.type, 'image/svg+xml');
    assert.equal(loadConfig({ BRAND_LOGO_FILE: file('logo.png', PNG) }).brand.logo?.type, 'image/png');
  });

  it('refuses bad values with one line naming the variable', () => {
    refuses({ BRAND_COLOR: 'red' }, /^BRAND_COLOR: must be a colour written #rrggbb$/);
    refuses({ BRAND_COLOR: '#abc' }, /^BRAND_COLOR: /);
    refuses({ BRAND_COLOR: '#abcdef;}body{display:none' }, /^BRAND_COLOR: /);
    refuses({ PRODUCT_NAME: 'a\u0000b' }, /^PRODUCT_NAME: must be 1 to 64 printable characters$/);
    refuses({ PRODUCT_NAME: 'a\nb' }, /^PRODUCT_NAME: /);
    refuses({ PRODUCT_NAME: 'x'.repeat(65) }, /^PRODUCT_NAME: /);
    refuses({ BRAND_LOGO_FILE: join(dir, 'missing.svg') }, /^BRAND_LOGO_FILE: .*missing\.svg does not exist$/);
    refuses({ BRAND_LOGO_FILE: file('logo.gif', 'GIF89a') }, /^BRAND_LOGO_FILE: must be an \.svg or \.png file$/);
    refuses({ BRAND_LOGO_FILE: file('fake.png', '<svg/>') }, /^BRAND_LOGO_FILE: .* is not a PNG image$/);
    refuses({ BRAND_LOGO_FILE: file('page.svg', '<html><svg/></html>') }, /^BRAND_LOGO_FILE: .* is not an SVG image/);
    refuses(
      { BRAND_LOGO_FILE: file('big.png', Buffer.concat([PNG, Buffer.alloc(MAX_LOGO_BYTES)])) },
      /^BRAND_LOGO_FILE: .* bytes; a logo may have at most 102400$/,
    );
    refuses({ BRAND_LOGO_FILE: dir }, /^BRAND_LOGO_FILE: must be an \.svg or \.png file$/);
  });

  it('derives readable colours for both schemes from the brand colour', () => {
    const light = brandStylesheet('#ffd400');
    assert.match(light, /--primary: #ffd400;/);
    // dark text on yellow, white text on navy
    assert.match(light, /^ {2}--on-primary: #0b1220;/m);
    assert.match(brandStylesheet('#102a6b'), /^ {2}--on-primary: #ffffff;/m);
    assert.match(light, /@media \(prefers-color-scheme: dark\)/);
  });
});
