import type Router from '@koa/router';
import type { KeyFacts, RotateOptions, Rotation } from '../../services/keys.ts';
import { KeysRotated, KeyView, listOf } from '../../services/schemas/responses.ts';
import { keyView, rotationView } from '../../services/views.ts';
import { requireScope } from '../middleware/admin-auth.ts';
import { guard, guarded } from '../middleware/guard.ts';
import { responds } from './openapi.ts';
import { RotateQuery } from './schemas.ts';

export interface KeyAdmin {
  list(): Promise<readonly KeyFacts[]>;
  /** rotates and tells every instance */
  rotate(options: RotateOptions): Promise<Rotation>;
}

/**
 * `GET /admin/keys` (pending, active and retired keys with their times) and
 * `POST /admin/keys/rotate[?immediate=true[&withdraw=true]]` (docs/rotating-keys.md).
 */
export function keyRoutes(router: Router, keys: KeyAdmin): void {
  router.get('/keys', requireScope('keys:read'), responds('KeyList', listOf(KeyView)), async (ctx) => {
    ctx.body = { data: (await keys.list()).map(keyView) };
  });
  router.post(
    '/keys/rotate',
    requireScope('keys:write', { event: 'key.rotated' }),
    responds('KeysRotated', KeysRotated),
    guard({ query: RotateQuery }),
    async (ctx) => {
      const { query } = guarded(ctx, { query: RotateQuery });
      ctx.body = rotationView(
        await keys.rotate({ immediate: query.immediate ?? false, withdraw: query.withdraw ?? false }),
      );
    },
  );
}
