const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * RFC 9700 §2.1 and RFC 8252: redirect URIs are matched exactly, so they must be exact.
 * https anywhere; http only on loopback; a private-use scheme (reverse domain name) only for
 * native apps; never a fragment, credentials or a wildcard.
 * @returns what is wrong, or undefined when the URI is acceptable
 */
export function redirectUriProblem(value: string, applicationType: 'web' | 'native'): string | undefined {
  const url = URL.parse(value);
  if (url === null) return 'must be an absolute URL';
  if (value.includes('#')) return 'must not contain a fragment';
  if (value.includes('*')) return 'must not contain a wildcard';
  if (url.username || url.password) return 'must not contain credentials';
  if (url.protocol === 'https:') return url.hostname ? undefined : 'must have a host';
  if (url.protocol === 'http:') {
    return LOOPBACK.has(url.hostname) ? undefined : 'must use https (http is allowed only on localhost or loopback)';
  }
  if (applicationType === 'native' && /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/.test(url.protocol)) return undefined;
  return applicationType === 'native'
    ? 'must use https, http on loopback, or a private-use scheme in reverse domain form (com.example.app:)'
    : 'must use https (http is allowed only on localhost or loopback)';
}

/**
 * OpenID Connect Back-Channel Logout 1.0 §2.2: where logout tokens are posted. An absolute URL
 * without a fragment; https, or http to localhost and loopback for development. No credentials
 * in it (they would travel in every request and show in the admin API).
 * @returns what is wrong, or undefined when the URI is acceptable
 */
export function backchannelLogoutUriProblem(value: string): string | undefined {
  const url = URL.parse(value);
  if (url === null) return 'must be an absolute URL';
  if (value.includes('#')) return 'must not contain a fragment';
  if (url.username || url.password) return 'must not contain credentials';
  if (url.protocol === 'https:') return url.hostname ? undefined : 'must have a host';
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) return undefined;
  return 'must use https (http is allowed only on localhost or loopback)';
}
