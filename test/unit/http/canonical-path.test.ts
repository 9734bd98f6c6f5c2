import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isCanonicalPath, templateOf } from '../../../src/http/middleware/canonical-path.ts';

const templates = [
  '/token',
  '/token/introspection',
  '/reg/:clientId',
  '/admin/clients/:id',
  '/interaction/:uid/login',
].map(templateOf);

describe('canonical paths', () => {
  test('the declared spelling, with parameters in any case, is canonical', () => {
    for (const path of [
      '/',
      '/token',
      '/token/introspection',
      '/reg/AbC',
      '/admin/clients/Token',
      '/interaction/X/login',
      '/unknown/Path',
      '/admin/clients/a%20b',
    ]) {
      assert.equal(isCanonicalPath(path, templates), true, path);
    }
  });
  test('regression: every other spelling of a route is not', () => {
    for (const path of [
      '/TOKEN',
      '/token/',
      '/Token/Introspection',
      '/token/INTROSPECTION',
      '/%74oken',
      '/token%2e',
      '//token',
      '/token;x',
      '/token/./introspection',
      '/token/../token',
      '/REG/abc',
      '/interaction/x/LOGIN',
      '/token\\introspection',
      '/tok%en',
      '/a%2fb',
      '/tøken',
    ]) {
      assert.equal(isCanonicalPath(path, templates), false, path);
    }
  });
});
