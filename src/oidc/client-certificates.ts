import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';

/** What the authorization server adds to the resource-server package's certificate reading (mTLS client authentication). */

/** Whether the TLS layer verified the peer's certificate against the configured client CAs. */
export function socketAuthorized(socket: Socket | undefined): boolean {
  return (socket as (Socket & { authorized?: boolean }) | undefined)?.authorized === true;
}

/** Every certificate in a PEM bundle. @throws when the file has none */
export function readCertificateBundle(path: string): X509Certificate[] {
  const text = readFileSync(path, 'utf8');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${path} holds no PEM certificate`);
  return blocks.map((block) => new X509Certificate(block));
}

/**
 * Whether a CA of the bundle issued `cert` directly and signed it, and `cert` is within its
 * validity period. Used for forwarded certificates, which the TLS layer did not check here.
 * Intermediate CAs are not followed: put the CA that issues client certificates in the bundle.
 */
export function issuedByTrustedCa(cert: X509Certificate, cas: readonly X509Certificate[], now = new Date()): boolean {
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) return false;
  return cas.some((ca) => {
    try {
      return cert.checkIssued(ca) && cert.verify(ca.publicKey) && !(now > new Date(ca.validTo));
    } catch {
      return false;
    }
  });
}
