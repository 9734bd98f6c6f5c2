import { z } from 'zod';

const Cursor = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: z.string().min(1).max(256).optional(),
});

export const IdParams = z.object({ id: z.string().min(1).max(256) });

export const RoleQuery = Cursor.extend({ name: z.string().max(100).optional() });

/** An initial access token for dynamic registration (RFC 7591 §3): single client, short-lived. */
export const NewInitialAccessToken = z.strictObject({
  expires_in: z
    .number()
    .int()
    .min(60)
    .max(30 * 24 * 3600)
    .default(24 * 3600),
  /** how many clients it may register (refused registrations do not count) */
  uses: z.number().int().min(1).max(1000).default(1),
});

export const UserQuery = Cursor.extend({
  status: z.enum(['active', 'disabled']).optional(),
  /** a prefix of the username, compared case-insensitively */
  username: z.string().min(1).max(64).optional(),
  email: z.string().min(1).max(254).optional(),
});

/** `client_name`: a prefix of the client's name. */
export const ClientQuery = Cursor.extend({ client_name: z.string().min(1).max(200).optional() });

/** `identifier`: a prefix of the API's identifier. */
export const ResourceQuery = Cursor.extend({ identifier: z.string().min(1).max(2048).optional() });

export const IssuerQuery = Cursor;
