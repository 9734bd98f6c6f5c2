import { z } from 'zod';
import { isPublicAsymmetricJwk } from '../federation-keys.ts';

/*
 * The admin API's fields for client secrets and workload identity federation, shared with the
 * CLI so both refuse the same things.
 */

const timestamp = z.iso.datetime().describe('ISO 8601, UTC');

/** RFC 3339 with a time zone; the year has four digits, so nothing past 9999 gets here. */
const futureInstant = z.iso
  .datetime({ offset: true })
  .transform((v) => new Date(v))
  .refine((d) => !Number.isNaN(d.getTime()), 'must be a valid date');

export const NewClientSecret = z.strictObject({
  name: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters'),
  /** when it stops authenticating; none: it lasts until removed */
  expiresAt: futureInstant.optional(),
});

export const SecretParams = z.object({ id: z.string().min(1).max(256), secretId: z.string().min(1).max(64) });

export const ClientSecretView = z.strictObject({
  id: z.string(),
  name: z.string(),
  createdAt: timestamp,
  expiresAt: timestamp.nullable(),
  lastUsedAt: timestamp.nullable().describe('written within seconds of a use, not at every use'),
});

export const ClientSecretCreated = ClientSecretView.extend({
  secret: z.string().describe('the plaintext secret, shown this once'),
});

const httpsUrl = z
  .string()
  .max(2048)
  .refine((v) => {
    const url = URL.parse(v);
    return url !== null && url.protocol === 'https:' && url.username === '' && url.password === '' && url.hash === '';
  }, 'must be an https URL without credentials or fragment');

const publicJwks = z.strictObject({
  keys: z
    .array(z.record(z.string(), z.unknown()))
    .min(1)
    .max(20)
    .refine(
      (keys) => keys.every(isPublicAsymmetricJwk),
      'keys must be public RSA, EC or OKP keys (no private or symmetric keys)',
    ),
});

const pem = z
  .string()
  .max(64 * 1024)
  .regex(/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/, 'must be PEM certificates');

const issuerFields = {
  /** the `iss` of the platform's tokens, exactly */
  issuer: httpsUrl,
  jwksUri: httpsUrl.nullable(),
  jwks: publicJwks.nullable(),
  /** PEM CA certificates trusted for jwksUri instead of the system's (a cluster's own CA) */
  jwksCa: pem.nullable(),
  /** the `aud` the platform's tokens for this server carry, exactly */
  audience: z
    .string()
    .min(1)
    .max(512)
    .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters'),
  /** jwksUri may be on a private or loopback address (not link-local): an admin's explicit choice */
  allowPrivateNetwork: z.boolean(),
};

export const NewFederatedIssuer = z.strictObject({
  issuer: issuerFields.issuer,
  jwksUri: issuerFields.jwksUri.optional(),
  jwks: issuerFields.jwks.optional(),
  jwksCa: issuerFields.jwksCa.optional(),
  audience: issuerFields.audience,
  allowPrivateNetwork: issuerFields.allowPrivateNetwork.optional(),
});

export const FederatedIssuerPatch = z
  .strictObject({
    issuer: issuerFields.issuer.exactOptional(),
    jwksUri: issuerFields.jwksUri.exactOptional(),
    jwks: issuerFields.jwks.exactOptional(),
    jwksCa: issuerFields.jwksCa.exactOptional(),
    audience: issuerFields.audience.exactOptional(),
    allowPrivateNetwork: issuerFields.allowPrivateNetwork.exactOptional(),
  })
  .refine((v) => Object.keys(v).length > 0, 'name at least one field to change');

export const FederatedIssuerView = z.strictObject({
  id: z.string(),
  issuer: z.string(),
  jwksUri: z.string().nullable(),
  jwks: z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())) }).nullable(),
  jwksCa: z.string().nullable(),
  audience: z.string(),
  allowPrivateNetwork: z.boolean(),
  created_at: timestamp,
  updated_at: timestamp,
});

/** A client's `federatedSubjects`: the (issuer, subject) pairs whose tokens authenticate it. */
export const FederatedSubjects = z
  .array(
    z.strictObject({
      issuer: httpsUrl,
      subject: z
        .string()
        .min(1)
        .max(1024)
        .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters'),
    }),
  )
  .max(50);
