import type { Context, Next } from 'koa';
import { stale } from '../../errors.ts';

/** A record's version, from its last change. */
const etagOf = (updatedAt: Date | string) => `"${new Date(updatedAt).getTime().toString(36)}"`;

/**
 * Optimistic concurrency (RFC 9110 §13.1.1): a write with `If-Match` goes through only if the
 * record is still the version the caller read; otherwise 412 and nothing changes. If-Match
 * compares strongly (RFC 9110 §8.8.3.2): a weak tag (`W/"..."`) never matches.
 */
export function assertIfMatch(ctx: Context, updatedAt: Date): void {
  const header = ctx.get('if-match');
  if (!header || header.trim() === '*') return;
  const current = etagOf(updatedAt);
  const accepted = header.split(',').map((tag) => tag.trim());
  if (!accepted.includes(current)) throw stale();
}

/** Sets `ETag` on admin responses that carry a single record (`updated_at`). */
export async function etagHeader(ctx: Context, next: Next): Promise<void> {
  await next();
  const body = ctx.body as { updated_at?: unknown } | undefined;
  if ((ctx.status === 200 || ctx.status === 201) && typeof body?.updated_at === 'string') {
    ctx.set('ETag', etagOf(body.updated_at));
  }
}
