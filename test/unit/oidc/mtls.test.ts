import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { createMtls } from '../../../src/oidc/mtls.ts';
import { createPki, type Pki } from '../../helpers/tls.ts';

type Property = Parameters<
  NonNullable<NonNullable<ReturnType<typeof createMtls>>['feature']['certificateSubjectMatches']>
>[1];

const HEADER = 'x-client-cert';

// RFC 8705 §2.1.2: a tls_client_auth client is authenticated by the subject DN or one SAN entry
// registered for it; a match too loose lets another certificate from the same CA in, a match too
// strict locks the client out. Certificates reach the check through a trusted proxy's header.
describe('mTLS subject matching (RFC 8705 §2.1.2)', () => {
  let pki: Pki;
  const certs: Record<'main' | 'comma', string> = { main: '', comma: '' };
  const mtls = createMtls({ clientCaFile: undefined, tlsRequestsCertificates: false, forwardedHeader: HEADER });
  assert.ok(mtls, 'a forwarded-certificate header turns mTLS on');

  before(() => {
    pki = createPki();
    certs.main = pki.issue('main', {
      subject: '/C=DE/O=Example Org/OU=Payments/CN=client one',
      san: 'DNS:client.example,URI:https://client.example/id,IP:10.0.0.1,IP:2001:db8::1,email:Ann.Lee@Example.COM',
    }).cert;
    certs.comma = pki.issue('comma', { subject: '/O=Example/CN=Lee, Ann', san: 'DNS:lee.example' }).cert;
  });
  after(() => pki.remove());

  /** the check as oidc-provider calls it, for the certificate forwarded in the header (base64 DER) */
  const matches = (cert: string, property: Property, expected: string) => {
    const forwarded = new X509Certificate(cert).raw.toString('base64');
    const ctx = { socket: undefined, get: (name: string) => (name === HEADER ? forwarded : '') };
    return mtls?.feature.certificateSubjectMatches?.(ctx as unknown as KoaContextWithOIDC, property, expected);
  };

  const rows: { rule: string; cert?: 'main' | 'comma'; property: Property; expected: string; match: boolean }[] = [
    // subject DN (RFC 4514 string)
    {
      rule: 'DN in RFC 4514 order (most specific first)',
      property: 'tls_client_auth_subject_dn',
      expected: 'CN=client one,OU=Payments,O=Example Org,C=DE',
      match: true,
    },
    {
      rule: 'DN in certificate order, as openssl prints it',
      property: 'tls_client_auth_subject_dn',
      expected: 'C=DE, O=Example Org, OU=Payments, CN=client one',
      match: true,
    },
    {
      rule: 'DN types and values compared case-insensitively, whitespace collapsed (caseIgnoreMatch)',
      property: 'tls_client_auth_subject_dn',
      expected: 'cn=CLIENT   ONE,ou=payments,o=example org,c=de',
      match: true,
    },
    {
      rule: 'DN with a hex-escaped space (RFC 4514 §2.4)',
      property: 'tls_client_auth_subject_dn',
      expected: 'CN=client\\20one,OU=Payments,O=Example Org,C=DE',
      match: true,
    },
    {
      rule: 'DN with another value: no',
      property: 'tls_client_auth_subject_dn',
      expected: 'CN=client two,OU=Payments,O=Example Org,C=DE',
      match: false,
    },
    {
      rule: 'DN missing an RDN (a prefix of the subject): no',
      property: 'tls_client_auth_subject_dn',
      expected: 'CN=client one,OU=Payments,O=Example Org',
      match: false,
    },
    {
      rule: 'DN with an extra RDN: no',
      property: 'tls_client_auth_subject_dn',
      expected: 'CN=client one,OU=Payments,O=Example Org,C=DE,DC=example',
      match: false,
    },
    {
      rule: 'DN with the RDNs shuffled (neither order): no',
      property: 'tls_client_auth_subject_dn',
      expected: 'OU=Payments,CN=client one,O=Example Org,C=DE',
      match: false,
    },
    {
      rule: 'DN with an escaped comma in a value',
      cert: 'comma',
      property: 'tls_client_auth_subject_dn',
      expected: 'CN=Lee\\, Ann,O=Example',
      match: true,
    },
    {
      rule: 'DN where the unescaped comma splits the value into two RDNs: no',
      cert: 'comma',
      property: 'tls_client_auth_subject_dn',
      expected: 'CN=Lee, Ann,O=Example',
      match: false,
    },
    // SAN dNSName
    { rule: 'SAN DNS exact', property: 'tls_client_auth_san_dns', expected: 'client.example', match: true },
    { rule: 'SAN DNS case-insensitive', property: 'tls_client_auth_san_dns', expected: 'CLIENT.Example', match: true },
    { rule: 'SAN DNS another name: no', property: 'tls_client_auth_san_dns', expected: 'other.example', match: false },
    {
      rule: 'SAN DNS with a suffix added: no',
      property: 'tls_client_auth_san_dns',
      expected: 'client.example.evil',
      match: false,
    },
    {
      rule: 'SAN DNS is not matched against the subject CN',
      property: 'tls_client_auth_san_dns',
      expected: 'client one',
      match: false,
    },
    // SAN URI
    {
      rule: 'SAN URI exact',
      property: 'tls_client_auth_san_uri',
      expected: 'https://client.example/id',
      match: true,
    },
    {
      rule: 'SAN URI compared exactly (no case folding)',
      property: 'tls_client_auth_san_uri',
      expected: 'https://CLIENT.example/id',
      match: false,
    },
    {
      rule: 'SAN URI with a trailing slash: no',
      property: 'tls_client_auth_san_uri',
      expected: 'https://client.example/id/',
      match: false,
    },
    {
      rule: 'SAN URI is not matched against a DNS entry',
      property: 'tls_client_auth_san_uri',
      expected: 'client.example',
      match: false,
    },
    // SAN iPAddress
    { rule: 'SAN IPv4', property: 'tls_client_auth_san_ip', expected: '10.0.0.1', match: true },
    { rule: 'SAN IPv6 compressed', property: 'tls_client_auth_san_ip', expected: '2001:db8::1', match: true },
    {
      rule: 'SAN IPv6 in another spelling of the same address',
      property: 'tls_client_auth_san_ip',
      expected: '2001:0DB8:0:0:0:0:0:1',
      match: true,
    },
    { rule: 'SAN IP another address: no', property: 'tls_client_auth_san_ip', expected: '10.0.0.2', match: false },
    {
      rule: 'SAN IP given a DNS name: no',
      property: 'tls_client_auth_san_ip',
      expected: 'client.example',
      match: false,
    },
    { rule: 'SAN IP given garbage: no', property: 'tls_client_auth_san_ip', expected: '[not an ip', match: false },
    // SAN rfc822Name
    {
      rule: 'SAN email exact',
      property: 'tls_client_auth_san_email',
      expected: 'Ann.Lee@Example.COM',
      match: true,
    },
    {
      rule: 'SAN email domain case-insensitive',
      property: 'tls_client_auth_san_email',
      expected: 'Ann.Lee@example.com',
      match: true,
    },
    {
      rule: 'SAN email local part case-sensitive (RFC 5321 §2.4): no',
      property: 'tls_client_auth_san_email',
      expected: 'ann.lee@Example.COM',
      match: false,
    },
    {
      rule: 'SAN email another domain: no',
      property: 'tls_client_auth_san_email',
      expected: 'Ann.Lee@example.org',
      match: false,
    },
  ];
  for (const row of rows) {
    it(row.rule, () => {
      assert.equal(matches(certs[row.cert ?? 'main'], row.property, row.expected), row.match);
    });
  }

  it('no certificate in the header: no match for any property', () => {
    const ctx = { socket: undefined, get: () => '' };
    for (const property of ['tls_client_auth_subject_dn', 'tls_client_auth_san_dns'] as const) {
      assert.equal(
        mtls?.feature.certificateSubjectMatches?.(ctx as unknown as KoaContextWithOIDC, property, 'CN=client one'),
        false,
      );
    }
  });
});
