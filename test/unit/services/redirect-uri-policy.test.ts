import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redirectUriProblem } from '../../../src/services/redirect-uri-policy.ts';

test('redirect URI policy (RFC 9700 §2.1, RFC 8252)', () => {
  const ok = (uri: string, type: 'web' | 'native' = 'web') =>
    assert.equal(redirectUriProblem(uri, type), undefined, uri);
  const bad = (uri: string, type: 'web' | 'native' = 'web') =>
    assert.notEqual(redirectUriProblem(uri, type), undefined, uri);
  ok('https://app.example/callback');
  ok('https://app.example:8443/cb?x=1');
  ok('http://localhost:3000/cb');
  ok('http://127.0.0.1/cb', 'native');
  ok('http://[::1]:9000/cb', 'native');
  ok('com.example.app:/oauth', 'native');
  bad('http://app.example/cb');
  bad('https://app.example/cb#frag');
  bad('https://*.example/cb');
  bad('https://user:pass@app.example/cb');
  bad('/relative');
  bad('com.example.app:/oauth');
  bad('myapp:/oauth', 'native');
  bad('javascript:alert(1)', 'native');
  bad('data:text/html,x', 'native');
});
