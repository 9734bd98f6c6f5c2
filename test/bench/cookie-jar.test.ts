import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCookieJar } from './cookie-jar.ts';

// The sign-in bench's browser: a wrong jar would send cookies a browser would not, and the
// figures would measure a flow no user has.
describe('bench cookie jar (RFC 6265 subset)', () => {
  it('sends a cookie only under its Path, matched on whole segments', () => {
    const jar = createCookieJar();
    jar.store(['_interaction=a; path=/interaction/uid1; httponly', '_session=s; path=/'], '/auth');
    assert.equal(jar.header('/interaction/uid1'), '_interaction=a; _session=s');
    assert.equal(jar.header('/interaction/uid1/login'), '_interaction=a; _session=s');
    assert.equal(jar.header('/interaction/uid10'), '_session=s');
    assert.equal(jar.header('/auth/uid1'), '_session=s');
  });

  it('defaults the Path to the request path up to its last slash', () => {
    const jar = createCookieJar();
    jar.store(['a=1'], '/interaction/uid1/login');
    assert.equal(jar.header('/interaction/uid1'), 'a=1');
    assert.equal(jar.header('/auth'), undefined);
  });

  it('replaces a cookie of the same name and path, keeps one on another path', () => {
    const jar = createCookieJar();
    jar.store(['r=old; path=/auth/uid1'], '/');
    jar.store(['r=new; path=/auth/uid1', 'r=other; path=/auth/uid2'], '/');
    assert.equal(jar.header('/auth/uid1'), 'r=new');
    assert.equal(jar.header('/auth/uid2'), 'r=other');
  });

  it('forgets a cookie the server expires, by Expires in the past or Max-Age 0', () => {
    const jar = createCookieJar();
    jar.store(['a=1; path=/', 'b=2; path=/', 'c=3; path=/'], '/');
    jar.store(['a=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT', 'b=; path=/; max-age=0'], '/');
    assert.equal(jar.header('/'), 'c=3');
    jar.store(['c=; path=/other; max-age=0'], '/');
    assert.equal(jar.header('/'), 'c=3', 'expiring c on another path leaves this one');
  });
});
