import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CookieJar } from '../../helpers/cookie-jar.ts';

/** a response as fetch returns it: its URL and its `set-cookie` lines */
const response = (url: string | undefined, ...setCookies: string[]) => {
  const headers = new Headers();
  for (const line of setCookies) headers.append('set-cookie', line);
  return url === undefined ? { headers } : { headers, url };
};

// The browser of the integration tests and of the sign-in bench: a wrong jar would send cookies a
// browser would not, and the tests (or the bench's figures) would cover a flow no user has.
describe('test and bench cookie jar (RFC 6265 subset)', () => {
  it('sends a cookie only under its Path, matched on whole segments', () => {
    const jar = new CookieJar();
    jar.storeLines(['_interaction=a; path=/interaction/uid1; httponly', '_session=s; path=/'], '/auth');
    assert.equal(jar.header('/interaction/uid1'), '_interaction=a; _session=s');
    assert.equal(jar.header('/interaction/uid1/login'), '_interaction=a; _session=s');
    assert.equal(jar.header('/interaction/uid10'), '_session=s');
    assert.equal(jar.header('/auth/uid1'), '_session=s');
  });

  it('defaults the Path to the request path up to its last slash', () => {
    const jar = new CookieJar();
    jar.storeLines(['a=1'], '/interaction/uid1/login');
    assert.equal(jar.header('/interaction/uid1'), 'a=1');
    assert.equal(jar.header('/auth'), '');
  });

  it("takes the request path from the response's URL, or / for a response without one", () => {
    const jar = new CookieJar();
    jar.store(response('http://127.0.0.1:3000/interaction/uid1/login?x=1', 'a=1'));
    jar.store(response(undefined, 'b=2'));
    assert.equal(jar.header('/interaction/uid1'), 'a=1; b=2');
    assert.equal(jar.header('/auth'), 'b=2');
    jar.store(response('http://127.0.0.1:3000/interaction/uid1/login', 'c=3'), '/account/x');
    assert.equal(jar.header('/account'), 'b=2; c=3', 'an explicit request path wins over the URL');
  });

  it('replaces a cookie of the same name and path, keeps one on another path', () => {
    const jar = new CookieJar();
    jar.storeLines(['r=old; path=/auth/uid1'], '/');
    jar.storeLines(['r=new; path=/auth/uid1', 'r=other; path=/auth/uid2'], '/');
    assert.equal(jar.header('/auth/uid1'), 'r=new');
    assert.equal(jar.header('/auth/uid2'), 'r=other');
  });

  it('without a path, sends every name once, with the value set last', () => {
    const jar = new CookieJar();
    jar.storeLines(['_interaction=one; path=/interaction/uid1', '_session=s; path=/'], '/');
    jar.storeLines(['_interaction=two; path=/interaction/uid2'], '/');
    assert.equal(jar.header(), '_interaction=two; _session=s');
    assert.deepEqual(jar.names(), [
      '_interaction (/interaction/uid1)',
      '_session (/)',
      '_interaction (/interaction/uid2)',
    ]);
  });

  it('forgets a cookie the server expires, by Expires in the past or Max-Age 0', () => {
    const jar = new CookieJar();
    jar.storeLines(['a=1; path=/', 'b=2; path=/', 'c=3; path=/'], '/');
    jar.storeLines(['a=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT', 'b=; path=/; max-age=0'], '/');
    assert.equal(jar.header('/'), 'c=3');
    jar.storeLines(['c=; path=/other; max-age=0'], '/');
    assert.equal(jar.header('/'), 'c=3', 'expiring c on another path leaves this one');
    assert.equal(jar.header(), 'c=3');
  });

  it('ignores a line without a name', () => {
    const jar = new CookieJar();
    jar.storeLines(['=v; path=/', 'novalue', 'ok=1'], '/');
    assert.equal(jar.header('/'), 'ok=1');
  });
});
