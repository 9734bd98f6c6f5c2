import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';

/**
 * Addresses a request from this server must never reach: loopback, private, link-local,
 * shared, documentation, multicast and other non-global ranges (IANA special-purpose
 * registries), and the IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4, Teredo).
 */
const SPECIAL_USE_V4 = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  SPECIAL_USE_V4.addSubnet(network, prefix, 'ipv4');
}
// apart: Node matches IPv4 addresses against ::ffff:0:0/96
const SPECIAL_USE_V6 = new BlockList();
for (const [network, prefix] of [
  ['::', 127], // :: and ::1
  ['::ffff:0:0', 96],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  SPECIAL_USE_V6.addSubnet(network, prefix, 'ipv6');
}

export function isSpecialUseAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  return family === 4 ? SPECIAL_USE_V4.check(address, 'ipv4') : SPECIAL_USE_V6.check(address, 'ipv6');
}

class RefusedTarget extends Error {
  override name = 'RefusedTarget';
}

/**
 * DNS resolution that refuses a name resolving to any special-use address. The connection is
 * made to the address checked here (no second lookup), so a name that changes its answer
 * between a check and the connection (DNS rebinding) cannot slip through.
 */
const checkedLookup: LookupFunction = (hostname, options, callback) => {
  const all: LookupAllOptions = { ...options, all: true };
  dnsLookup(hostname, all, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, '', 0);
    const refused = addresses.find((a) => isSpecialUseAddress(a.address));
    if (addresses.length === 0 || refused) {
      return callback(new RefusedTarget(`${hostname} resolves to a non-public address`), '', 0);
    }
    if ((options as { all?: boolean }).all) {
      return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
    }
    const first = addresses[0] as LookupAddress;
    callback(null, first.address, first.family);
  });
};

function toHeaders(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}

/**
 * oidc-provider's `fetch` (client `jwks_uri`, `sector_identifier_uri`): https only, to public
 * addresses only (checked after DNS resolution, IP literals in any spelling the URL parser
 * accepts included), and no redirects followed (a 3xx is handed back, and oidc-provider treats
 * anything but 200 as a failure). No request leaves for a target an attacker chose inside
 * our network: not even a connection is opened.
 */
export async function outboundFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const url = new URL(input instanceof Request ? input.url : input.toString());
  if (url.protocol !== 'https:') throw new RefusedTarget('only https URLs are fetched');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  // an IP literal is connected to without a lookup: check it here
  if (isIP(host) !== 0 && isSpecialUseAddress(host)) throw new RefusedTarget(`${host} is not a public address`);

  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, name) => {
    headers[name] = value;
  });
  return new Promise<Response>((resolve, reject) => {
    const req = request(
      url,
      {
        method: init.method ?? 'GET',
        headers,
        lookup: checkedLookup,
        ...(init.signal ? { signal: init.signal } : {}),
      },
      (res) => {
        const status = res.statusCode ?? 502;
        const nullBody = status === 204 || status === 304 || init.method === 'HEAD';
        if (nullBody) res.resume();
        resolve(
          new Response(nullBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
            status,
            headers: toHeaders(res.headers),
          }),
        );
      },
    );
    req.on('error', reject);
    if (typeof init.body === 'string') req.write(init.body);
    req.end();
  });
}
