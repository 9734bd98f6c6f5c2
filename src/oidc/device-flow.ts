import Provider, { errors } from 'oidc-provider';
import { DEVICE_POLL_INTERVAL_SECONDS, type DeviceFlowGuard } from '../services/device-flow.ts';

/**
 * RFC 8628 around oidc-provider's device flow, which announces no `interval` and never answers
 * `slow_down`:
 * - the device authorization response carries `interval` (§3.2);
 * - at the token endpoint, a device code polled again within the interval is refused with
 *   `slow_down` (§3.5) before it is looked at. The count is per device code (its digest) in the
 *   shared rate-limit store, so every instance sees the same polls.
 */
export function enforceDevicePolling(provider: Provider, guard: DeviceFlowGuard): void {
  provider.on('device_authorization.success', (_ctx: unknown, body: Record<string, unknown>) => {
    body.interval = DEVICE_POLL_INTERVAL_SECONDS;
  });

  // the token endpoint's device_code grant looks its code up with this; nothing else polls
  const DeviceCode = provider.DeviceCode as unknown as {
    find(id: unknown, options?: unknown): Promise<unknown>;
  };
  const find = DeviceCode.find.bind(DeviceCode);
  DeviceCode.find = async (id: unknown, options?: unknown) => {
    const ctx = Provider.ctx;
    if (ctx?.oidc?.route === 'token' && typeof id === 'string' && id.length > 0) {
      const verdict = await guard.poll(id);
      if (!verdict.allowed) throw new errors.SlowDown();
    }
    return find(id, options);
  };
}
