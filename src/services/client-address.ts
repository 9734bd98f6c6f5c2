import { isIPv4, isIPv6 } from 'node:net';

/** The prefix an IPv6 customer gets at the least: RFC 6177 §3 recommends a /56 or a /48, never less than a /64. */
const IPV6_PREFIX_GROUPS = 4;

/**
 * The key under which per-address limits count one client. IPv4 as it is (an IPv4-mapped IPv6
 * address, RFC 4291 §2.5.5.2, is the IPv4 address it maps); IPv6 by its /64, because one host
 * usually holds a whole /64 (RFC 7421) and would otherwise be 2^64 addresses, each with a fresh
 * allowance. Anything else (a unix socket, an unparsable header) is kept as given.
 */
export function addressKey(ip: string): string {
  const bare = ip.split('%')[0] ?? ip; // an IPv6 zone (RFC 6874) names a local interface, not a host
  if (isIPv4(bare) || !isIPv6(bare)) return ip;
  const groups = expandIPv6(bare.toLowerCase());
  if (groups.length === 8 && groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
  }
  return `${groups
    .slice(0, IPV6_PREFIX_GROUPS)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a trailing dotted IPv4 part as two groups). */
function expandIPv6(ip: string): number[] {
  const parse = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((g) => {
          if (!g.includes('.')) return [Number.parseInt(g, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = '', tail] = ip.split('::');
  const left = parse(head);
  if (tail === undefined) return left;
  const right = parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}
