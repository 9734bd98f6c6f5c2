/**
 * Single-use values shared by every instance: a DPoP proof (RFC 9449 §11.1) or a client
 * assertion (RFC 7523 §3) is accepted once by the whole deployment, not once per instance.
 */
export interface ReplayKeyRepository {
  /** true the first time `key` is seen before `expiresAt` (epoch seconds), false on a replay; atomic across instances */
  firstUse(key: string, expiresAt: number): Promise<boolean>;
  /** when a live `key` expires (epoch seconds), or undefined when it was never seen or has expired */
  expiryOf(key: string): Promise<number | undefined>;
  /** @returns how many expired keys were removed */
  purgeExpired(now: Date, batch: number): Promise<number>;
}
