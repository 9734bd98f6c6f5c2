import type { LookupAddress } from 'node:dns';
import { Resolver } from 'node:dns/promises';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { pipeline, Readable, Transform } from 'node:stream';

/**
 * Addresses a request from this server must never reach: loopback, private, link-local,
 * shared, documentation, multicast and other non-global ranges (IANA special-purpose
 * registries), and the IPv6 forms that embed an IPv4 address (mapped, compatible, translated,
 * NAT64, 6to4, Teredo).
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
  ['::', 96], // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d (RFC 4291 §2.5.5.1)
  ['::ffff:0:0', 96],
  ['::ffff:0:0:0', 96], // IPv4-translated (RFC 2765)
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

/** The DNS queries a fetch makes: `dns.promises.Resolver` answers them (tests give their own). */
export interface AddressResolver {
  resolve4(hostname: string): Promise<string[]>;
  resolve6(hostname: string): Promise<string[]>;
}

/** How long one DNS query may take: a slow server for a hostile `jwks_uri` host holds nothing longer. */
const DNS_TIMEOUT_MS = 2000;

/**
 * `dns.lookup` is getaddrinfo on libuv's thread pool, which argon2 hashing shares: a DNS server
 * that answers slowly for a name an attacker chose (a client's `jwks_uri`) would hold those
 * threads and stall every sign-in. c-ares (`Resolver`) runs on the event loop, with a timeout.
 */
const defaultResolver = (): AddressResolver => new Resolver({ timeout: DNS_TIMEOUT_MS, tries: 1 });

/**
 * The addresses of `hostname`, all of them public, or an error. A and AAAA are asked at once;
 * one family without an answer is fine, any refused address among the answers refuses the name.
 */
async function publicAddresses(
  hostname: string,
  resolver: AddressResolver,
  refused: (address: string) => boolean,
): Promise<LookupAddress[]> {
  // RFC 6761 §6.3: localhost names are loopback, whatever a DNS server would say
  const name = hostname.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) {
    throw new RefusedTarget(`${hostname} resolves to a non-public address`);
  }
  const family = isIP(hostname);
  const [v4, v6] =
    family === 0
      ? await Promise.allSettled([resolver.resolve4(hostname), resolver.resolve6(hostname)])
      : [
          { status: 'fulfilled' as const, value: family === 4 ? [hostname] : [] },
          { status: 'fulfilled' as const, value: family === 6 ? [hostname] : [] },
        ];
  const addresses: LookupAddress[] = [
    ...(v4.status === 'fulfilled' ? v4.value.map((address) => ({ address, family: 4 })) : []),
    ...(v6.status === 'fulfilled' ? v6.value.map((address) => ({ address, family: 6 })) : []),
  ];
  if (addresses.some((a) => refused(a.address))) {
    throw new RefusedTarget(`${hostname} resolves to a non-public address`);
  }
  if (addresses.length === 0) {
    if (v4.status === 'rejected') throw v4.reason;
    throw new RefusedTarget(`${hostname} has no address`);
  }
  return addresses;
}

/**
 * DNS resolution that refuses a name resolving to any refused (special-use) address. The
 * connection is made to the address checked here (no second lookup), so a name that changes its answer
 * between a check and the connection (DNS rebinding) cannot slip through.
 */
function checkedLookup(refused: (address: string) => boolean, resolver: AddressResolver): LookupFunction {
  return (hostname, options, callback) => {
    publicAddresses(hostname, resolver, refused).then(
      (found) => {
        const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
        const addresses = wanted === 0 ? found : found.filter((a) => a.family === wanted);
        if (addresses.length === 0)
          return callback(new RefusedTarget(`${hostname} has no IPv${wanted} address`), '', 0);
        if ((options as { all?: boolean }).all) {
          return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
        }
        const first = addresses[0] as LookupAddress;
        callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

function toHeaders(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}

/** The most a response body may hold: a JWKS or a sector identifier document is a few kilobytes. */
const MAX_RESPONSE_BYTES = 512 * 1024;
/** When the caller gives no signal: oidc-provider gives one of 2.5 seconds to every fetch. */
const DEFAULT_TIMEOUT_MS = 5000;

export interface OutboundFetchOptions {
  /** whether an address may not be connected to; tests allow their loopback server with it */
  refused?: (address: string) => boolean;
  /** extra CAs to trust (tests only) */
  ca?: string;
  maxResponseBytes?: number;
  /** the DNS resolver (tests); default: c-ares with a 2-second timeout */
  resolver?: AddressResolver;
}

/**
 * oidc-provider's `fetch` (client `jwks_uri`, `sector_identifier_uri`): https only, to public
 * addresses only (checked after DNS resolution, IP literals in any spelling the URL parser
 * accepts included), and no redirects followed (a 3xx is handed back, and oidc-provider treats
 * anything but 200 as a failure). No request leaves for a target an attacker chose inside
 * our network: not even a connection is opened.
 *
 * What comes back is the remote server's choice, so it is held to what a fetch can digest: a
 * status Fetch cannot represent is a failed fetch (not an exception thrown in the socket's
 * event handler, which would end the process), and a body past `maxResponseBytes` (announced
 * or streamed) fails the fetch, with the connection closed, before it fills the memory.
 */
export function createOutboundFetch(options: OutboundFetchOptions = {}) {
  const refused = options.refused ?? isSpecialUseAddress;
  const lookup = checkedLookup(refused, options.resolver ?? defaultResolver());
  const maxBytes = options.maxResponseBytes ?? MAX_RESPONSE_BYTES;

  return async function outboundFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    if (url.protocol !== 'https:') throw new RefusedTarget('only https URLs are fetched');
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    // an IP literal is connected to without a lookup: check it here
    if (isIP(host) !== 0 && refused(host)) throw new RefusedTarget(`${host} is not a public address`);

    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => {
      headers[name] = value;
    });
    const signal = init.signal ?? AbortSignal.timeout(DEFAULT_TIMEOUT_MS);
    return new Promise<Response>((resolve, reject) => {
      const req = request(
        url,
        {
          method: init.method ?? 'GET',
          headers,
          lookup,
          signal,
          ...(options.ca ? { ca: options.ca } : {}),
        },
        (res) => {
          try {
            resolve(toResponse(res, init.method, maxBytes));
          } catch (err) {
            res.destroy();
            reject(err);
          }
        },
      );
      req.on('error', reject);
      if (typeof init.body === 'string') req.write(init.body);
      req.end();
    });
  };
}

function toResponse(res: IncomingMessage, method: string | undefined, maxBytes: number): Response {
  const status = res.statusCode ?? 0;
  // Fetch represents 200-599 only (1xx never reaches here); anything else is no answer
  if (status < 200 || status > 599) throw new RefusedTarget(`unusable response status ${status}`);
  const announced = Number(res.headers['content-length']);
  if (announced > maxBytes) throw new RefusedTarget('response too large');
  const headers = toHeaders(res.headers);
  if (status === 204 || status === 304 || method === 'HEAD') {
    res.resume();
    return new Response(null, { status, headers });
  }
  // counted as it streams: a Content-Length is only a claim
  let received = 0;
  const limited = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      received += chunk.length;
      if (received > maxBytes) return done(new RefusedTarget('response too large'));
      done(null, chunk);
    },
  });
  // an error on either side (the limit, a timeout, a reset, a cancelled read) destroys both
  pipeline(res, limited, () => {});
  return new Response(Readable.toWeb(limited) as ReadableStream<Uint8Array>, { status, headers });
}

/** The fetch oidc-provider is configured with: public https targets only. */
export const outboundFetch = createOutboundFetch();
