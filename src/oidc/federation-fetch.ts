import type { FetchJwks } from '../services/federation-keys.ts';
import { createOutboundFetch, isSpecialUseAddress } from './outbound-fetch.ts';

/** A JWKS document is a few kilobytes. */
const MAX_JWKS_BYTES = 64 * 1024;

/**
 * Addresses a federated issuer's jwksUri never reaches, even when its admin allowed private
 * networks: link-local (169.254.0.0/16 holds the cloud metadata services, fe80::/10),
 * multicast, reserved and unspecified ranges. Loopback and private ranges (RFC 1918,
 * 100.64.0.0/10, fc00::/7) are what `allowPrivateNetwork` opens: where a cluster's API server is.
 */
const PRIVATE_NETWORKS = [
  /^10\./,
  /^127\./,
  /^172\.(1[6-9]|2\d|3[01])\./,
  /^192\.168\./,
  /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./,
];
const privateAllowed = (address: string) => {
  if (PRIVATE_NETWORKS.some((re) => re.test(address))) return true;
  const v6 = address.toLowerCase();
  return v6 === '::1' || /^f[cd][0-9a-f]{2}:/.test(v6);
};

/**
 * The JWKS fetch of federated issuers, over the project's outbound fetch: https only, no
 * redirects, size and time limits, public addresses only unless the issuer's admin opted in to
 * private ones (ADR 0017).
 */
export const fetchFederatedJwks: FetchJwks = async (url, options) => {
  const fetch = createOutboundFetch({
    maxResponseBytes: MAX_JWKS_BYTES,
    ...(options.ca ? { ca: options.ca } : {}),
    ...(options.allowPrivateNetwork
      ? { refused: (address: string) => isSpecialUseAddress(address) && !privateAllowed(address) }
      : {}),
  });
  const res = await fetch(url, { headers: { accept: 'application/json' }, signal: options.signal });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`the JWKS answered ${res.status}`);
  }
  return res.json();
};
