import type { SecondFactorFacts, SecondFactorFactsRepository } from '../../services/ports/second-factor-facts.ts';
import type { Query } from '../database.ts';

// Every password sign-in asks for these at the password and again at the resume (the MFA check
// of the interaction policy): one indexed statement instead of three Prisma reads.
const SQL = `SELECT
  COALESCE((SELECT "required" FROM "mfa_settings" WHERE "user_id" = $1), false) AS "required",
  (SELECT count(*)::int FROM "passkeys" WHERE "user_id" = $1) AS "passkeys",
  EXISTS (SELECT 1 FROM "totp_credentials" WHERE "user_id" = $1 AND "confirmed_at" IS NOT NULL) AS "totp"`;

export function createSecondFactorFactsRepository(query: Query): SecondFactorFactsRepository {
  const read = async (userId: string): Promise<SecondFactorFacts> => {
    const [row] = await query<{ required: boolean; passkeys: number; totp: boolean }>(SQL, [userId]);
    return { mfaRequired: row?.required === true, passkeys: Number(row?.passkeys ?? 0), totp: row?.totp === true };
  };
  return { of: sharedWithinTick(read) };
}

/**
 * The same reads asked for in one synchronous stretch (a `Promise.all` of the MFA decision, the
 * passkey count and the app check) share one statement. The entry is dropped at the next
 * microtask, so a later question always reads afresh: nothing is cached across awaits.
 */
function sharedWithinTick(
  read: (userId: string) => Promise<SecondFactorFacts>,
): (userId: string) => Promise<SecondFactorFacts> {
  const inFlight = new Map<string, Promise<SecondFactorFacts>>();
  return (userId) => {
    let p = inFlight.get(userId);
    if (p === undefined) {
      p = read(userId);
      inFlight.set(userId, p);
      queueMicrotask(() => inFlight.delete(userId));
    }
    return p;
  };
}
