import { createHash, X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';

/**
 * The client certificate of a request, from the TLS connection or from a header set by a
 * TLS-terminating proxy, for checking certificate-bound tokens (`cnf.x5t#S256`, RFC 8705).
 * The authorization server uses the same functions for mTLS client authentication.
 */

type MaybeTlsSocket = Socket & {
  encrypted?: boolean;
  authorized?: boolean;
  getPeerCertificate?: (detailed?: boolean) => { raw?: Buffer } | null;
};

/** The certificate the peer presented on this TLS connection, if any. */
export function certificateFromSocket(socket: Socket | undefined): X509Certificate | undefined {
  const tls = socket as MaybeTlsSocket | undefined;
  if (!tls?.encrypted || typeof tls.getPeerCertificate !== 'function') return undefined;
  const raw = tls.getPeerCertificate(false)?.raw;
  if (!raw || raw.length === 0) return undefined;
  try {
    return new X509Certificate(raw);
  } catch {
    return undefined;
  }
}

const PEM = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/;

/**
 * Reads a forwarded client certificate. Accepted forms (what common proxies send):
 * - URL-encoded PEM: nginx `$ssl_client_escaped_cert`, AWS ALB `X-Amzn-Mtls-Clientcert`,
 *   HAProxy and Envoy's `X-Forwarded-Client-Cert` element `Cert="..."`;
 * - PEM with its line breaks replaced by spaces or tabs (nginx `$ssl_client_cert`);
 * - bare base64 DER (Traefik `X-Forwarded-Tls-Client-Cert`).
 * Anything else, or more than 16 KiB, is no certificate.
 */
export function parseForwardedCertificate(value: string | undefined): X509Certificate | undefined {
  if (!value || value.length > 16_384) return undefined;
  let text = value.trim();
  // Envoy XFCC: `By=...;Hash=...;Cert="<url-encoded PEM>";...`; the first element is the client's
  const xfcc = /(?:^|;)\s*Cert="([^"]*)"/i.exec(text.split(',')[0] ?? '');
  if (xfcc?.[1] !== undefined) text = xfcc[1];
  if (text.includes('%')) {
    try {
      text = decodeURIComponent(text);
    } catch {
      return undefined;
    }
  }
  const pem = PEM.exec(text);
  const base64 = (pem ? (pem[1] ?? '') : text).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined;
  try {
    return new X509Certificate(Buffer.from(base64, 'base64'));
  } catch {
    return undefined;
  }
}

/** RFC 8705 §3.1: the base64url SHA-256 of the DER certificate, as in `cnf.x5t#S256`. */
export function certificateThumbprint(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('base64url');
}
