import type { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import {
  certificateFromSocket,
  parseForwardedCertificate,
} from '../../packages/resource-server/src/client-certificate.ts';
import { issuedByTrustedCa, readCertificateBundle, socketAuthorized } from './client-certificates.ts';

type Next = () => Promise<unknown>;
type MtlsFeature = NonNullable<NonNullable<Configuration['features']>['mTLS']>;

export interface MtlsOptions {
  /** TLS_CLIENT_CA_FILE: the CAs behind `tls_client_auth` (checked by the TLS layer, or here for forwarded certificates) */
  clientCaFile: string | undefined;
  /** whether the server itself asks for client certificates (HTTPS with a client CA) */
  tlsRequestsCertificates: boolean;
  /** TLS_CLIENT_CERT_HEADER, set only together with TRUST_PROXY (enforced by the config) */
  forwardedHeader: string | undefined;
}

interface Presented {
  cert: X509Certificate;
  /** chains to a configured client CA */
  authorized: boolean;
}

/**
 * RFC 8705 for oidc-provider: where the client certificate of a request comes from, whether it
 * chains to a configured CA, and whether it names the registered subject. Returns undefined
 * when no certificate can ever arrive (no client CA on our TLS socket, no trusted proxy header),
 * so that discovery does not advertise what cannot work.
 */
export function createMtls(options: MtlsOptions) {
  const { forwardedHeader } = options;
  if (!options.tlsRequestsCertificates && forwardedHeader === undefined) return undefined;
  const cas = options.clientCaFile ? readCertificateBundle(options.clientCaFile) : [];
  const seen = new WeakMap<object, Presented | null>();

  // With a forwarded header configured, every connection is the proxy's: its own TLS
  // certificate (proxy-to-upstream mTLS) must never be taken for the client's.
  const presented = (ctx: { socket: Socket; get(name: string): string }): Presented | undefined => {
    const cached = seen.get(ctx);
    if (cached !== undefined) return cached ?? undefined;
    let found: Presented | null = null;
    if (forwardedHeader !== undefined) {
      const cert = parseForwardedCertificate(ctx.get(forwardedHeader));
      if (cert) found = { cert, authorized: issuedByTrustedCa(cert, cas) };
    } else {
      const cert = certificateFromSocket(ctx.socket);
      if (cert) found = { cert, authorized: socketAuthorized(ctx.socket) };
    }
    seen.set(ctx, found);
    return found ?? undefined;
  };

  const feature: MtlsFeature = {
    enabled: true,
    tlsClientAuth: true,
    selfSignedTlsClientAuth: true,
    // RFC 8705 §3: only for clients registered with tls_client_certificate_bound_access_tokens
    certificateBoundAccessTokens: true,
    getCertificate: (ctx) => presented(ctx)?.cert,
    certificateAuthorized: (ctx) => presented(ctx)?.authorized === true,
    certificateSubjectMatches(ctx, property, expected) {
      const cert = presented(ctx)?.cert;
      return cert !== undefined && subjectMatches(cert, property, expected);
    },
  };

  return {
    feature,
    /**
     * RFC 8705 §5: the endpoints that accept mutual TLS. This server asks for (or is forwarded)
     * client certificates on all of them, so the aliases are the endpoints themselves.
     */
    discoveryAliases: async function mtlsEndpointAliases(ctx: KoaContextWithOIDC, next: Next) {
      await next();
      if (ctx.oidc?.route !== 'discovery' || typeof ctx.body !== 'object' || ctx.body === null) return;
      const body = ctx.body as Record<string, unknown>;
      const aliases: Record<string, unknown> = {};
      for (const name of [
        'token_endpoint',
        'revocation_endpoint',
        'introspection_endpoint',
        'pushed_authorization_request_endpoint',
        'userinfo_endpoint',
      ]) {
        if (typeof body[name] === 'string') aliases[name] = body[name];
      }
      body.mtls_endpoint_aliases = aliases;
    },
  };
}

export type Mtls = NonNullable<ReturnType<typeof createMtls>>;

type SubjectProperty =
  | 'tls_client_auth_subject_dn'
  | 'tls_client_auth_san_dns'
  | 'tls_client_auth_san_uri'
  | 'tls_client_auth_san_ip'
  | 'tls_client_auth_san_email';

/** RFC 8705 §2.1.2: the registered subject DN or SAN entry must be the certificate's. */
function subjectMatches(cert: X509Certificate, property: SubjectProperty, expected: string): boolean {
  if (property === 'tls_client_auth_subject_dn') return dnMatches(cert.subject, expected);
  const kind = SAN_KINDS[property];
  const names = subjectAltNames(cert.subjectAltName)
    .filter((entry) => entry.kind === kind)
    .map((entry) => entry.value);
  switch (property) {
    case 'tls_client_auth_san_dns':
      return names.some((name) => name.toLowerCase() === expected.toLowerCase());
    case 'tls_client_auth_san_ip': {
      const want = normalizeIp(expected);
      return want !== undefined && names.some((name) => normalizeIp(name) === want);
    }
    case 'tls_client_auth_san_email':
      return names.some((name) => sameEmail(name, expected));
    default:
      return names.includes(expected);
  }
}

const SAN_KINDS = {
  tls_client_auth_san_dns: 'DNS',
  tls_client_auth_san_uri: 'URI',
  tls_client_auth_san_ip: 'IP Address',
  tls_client_auth_san_email: 'email',
} as const;

/** Node's `subjectAltName`: `DNS:a, IP Address:1.2.3.4, URI:"x, y"` (values with commas are JSON-quoted). */
function subjectAltNames(text: string | undefined): { kind: string; value: string }[] {
  const out: { kind: string; value: string }[] = [];
  const entry = /\s*([^:,]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:,|$)/gy;
  for (let m = entry.exec(text ?? ''); m && m[0] !== ''; m = entry.exec(text ?? '')) {
    const [, kind = '', raw = ''] = m;
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        continue;
      }
    }
    out.push({ kind: kind.trim(), value });
  }
  return out;
}

function normalizeIp(ip: string): string | undefined {
  const host = ip.includes(':') ? URL.parse(`http://[${ip}]/`)?.hostname : URL.parse(`http://${ip}/`)?.hostname;
  return host ?? undefined;
}

/** The local part is case-sensitive (RFC 5321 §2.4), the domain is not. */
function sameEmail(a: string, b: string): boolean {
  const [la = '', da = ''] = splitEmail(a);
  const [lb = '', db = ''] = splitEmail(b);
  return la === lb && da.toLowerCase() === db.toLowerCase();
}
const splitEmail = (v: string) => {
  const at = v.lastIndexOf('@');
  return at < 0 ? [v, ''] : [v.slice(0, at), v.slice(at + 1)];
};

/**
 * The registered `tls_client_auth_subject_dn` is an RFC 4514 string (most specific RDN first);
 * Node prints the subject one RDN per line in certificate order (RFC 2253 escaping). Both are
 * parsed into RDNs and compared type by type, values case-insensitively with whitespace
 * collapsed (RFC 4517 caseIgnoreMatch). Either order is accepted: `openssl` prints DNs in
 * certificate order, and operators copy from it.
 */
function dnMatches(certSubject: string, expected: string): boolean {
  const actual = certSubject.split('\n').filter(Boolean).map(normalizeRdn);
  const wanted = splitUnescaped(expected, ',').map(normalizeRdn);
  if (actual.length === 0 || actual.length !== wanted.length) return false;
  const same = (a: string[]) => a.every((rdn, i) => rdn === wanted[i]);
  return same(actual) || same([...actual].reverse());
}

function normalizeRdn(rdn: string): string {
  return splitUnescaped(rdn, '+')
    .map((ava) => {
      const parts = splitUnescaped(ava, '=');
      const type = (parts[0] ?? '').trim().toUpperCase();
      const value = unescapeDn(parts.slice(1).join('=').trim()).replace(/\s+/g, ' ').toLowerCase();
      return `${type}=${value}`;
    })
    .sort()
    .join('+');
}

/** Splits on `sep` where it is not escaped with a backslash; the pieces keep their escapes. */
function splitUnescaped(text: string, sep: string): string[] {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\' && i + 1 < text.length) {
      current += ch + text[i + 1];
      i++;
    } else if (ch === sep) {
      out.push(current);
      current = '';
    } else current += ch;
  }
  out.push(current);
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

/** RFC 4514 §2.4: `\,` and `\XX` hex pairs. */
function unescapeDn(value: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] ?? '';
    if (ch === '\\' && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (ch === '\\' && i + 1 < value.length) {
      bytes.push(...Buffer.from(value[i + 1] ?? '', 'utf8'));
      i++;
    } else bytes.push(...Buffer.from(ch, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}
