import type { OidcPayloadRepository } from './ports/oidc-payloads.ts';

/** The first factor is done; the passkey step (second factor, or the offer to add one) is next. */
export interface PendingSignIn {
  accountId: string;
  /** the password was given in this interaction (false for a step-up of an existing session) */
  password: boolean;
  mode: 'second-factor' | 'offer';
}

/** A sign-in waiting for its passkey step, kept per interaction (by its uid) next to the provider's models. */
export interface PendingSignIns {
  get(uid: string): Promise<PendingSignIn | undefined>;
  save(uid: string, pending: PendingSignIn): Promise<void>;
}

/**
 * Its model among the provider's: the storage adapter removes the row when the interaction is
 * given its result (src/oidc/adapter.ts `endsWithInteraction`), in the statement that writes it.
 */
export const PENDING_MODEL = 'PasskeyPendingSignIn';
const PENDING_TTL_SECONDS = 600;

export function createPendingSignIns(deps: { payloads: OidcPayloadRepository }): PendingSignIns {
  const { payloads } = deps;
  return {
    get: async (uid) => (await payloads.find(PENDING_MODEL, uid)) as PendingSignIn | undefined,
    save: (uid, pending) => payloads.upsert(PENDING_MODEL, uid, { ...pending }, PENDING_TTL_SECONDS),
  };
}
