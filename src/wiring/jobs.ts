import type { Config } from '../config/index.ts';
import type { Logger } from '../logger.ts';
import type { Lifetime } from './lifetime.ts';
import type { ProviderHolder } from './provider.ts';
import type { Repositories } from './repositories.ts';
import type { Services } from './services.ts';

const PURGE_BATCH = 1000;
const OUTBOX_KEEP_MS = 7 * 86_400_000;
/** the keystore is read again at least this often, should a notification of a rotation be lost */
const KEY_RELOAD_MS = 30_000;
/** how often an instance checks whether the keys are due for a scheduled rotation */
const KEY_ROTATION_CHECK_MS = 10 * 60_000;

/** The background work of a running app: key reloads, and the purge of expired rows. */
export function startJobs(deps: {
  config: Config;
  log: Logger;
  repos: Repositories;
  services: Services;
  holder: ProviderHolder;
  lifetime: Lifetime;
}): void {
  const { config, log, repos, services, holder } = deps;
  const { keys, keystore, events } = services;

  // The keystore is loaded again when another instance (or the CLI) rotates, at the moment a key
  // changes state (a pending key starts signing, a retired one leaves the JWKS), and every
  // KEY_RELOAD_MS in case a notification was lost. A key's state follows from its stored times,
  // so every instance switches at the same moment without talking to the others.
  let reloadTimer: NodeJS.Timeout | undefined;
  let closed = false;
  const reloadKeys = async () => {
    try {
      const loaded = await keys.load();
      if (JSON.stringify(loaded.keys) !== JSON.stringify(keystore.current.keys)) {
        keystore.current = loaded;
        holder.rebuild();
        log.info(
          { keys: loaded.keys.map((k) => ({ kid: k.kid, alg: k.alg, state: k.state })) },
          'signing keys reloaded',
        );
      }
    } catch (err) {
      log.error({ err }, 'reloading signing keys failed');
    }
    schedule();
  };
  const schedule = () => {
    if (closed) return;
    clearTimeout(reloadTimer);
    const next = keystore.current.nextChange?.getTime() ?? Number.POSITIVE_INFINITY;
    // a few milliseconds after the change, so that the state computed then is the new one
    const wait = Math.min(Math.max(next - Date.now() + 5, 0), KEY_RELOAD_MS);
    reloadTimer = setTimeout(() => void reloadKeys(), wait).unref();
  };
  schedule();
  deps.lifetime.defer(() => {
    closed = true;
    clearTimeout(reloadTimer);
  });
  services.bus.subscribe((event) => {
    if (event !== 'all' && event.topic !== 'keys') return;
    void reloadKeys();
  });

  // KEY_ROTATION_DAYS: any instance may find the keys due; the key service's lock lets one rotate
  const rotationDays = config.keys.rotationDays;
  if (rotationDays !== undefined) {
    const rotateIfDue = async () => {
      try {
        const rotation = await keys.rotateIfOlderThan(rotationDays);
        if (!rotation) return;
        events.record({
          type: 'key.rotated',
          actor: 'scheduler',
          details: { scheduled: true, kids: rotation.rotated },
        });
        await services.bus.publish({ topic: 'keys' });
      } catch (err) {
        log.warn({ err }, 'scheduled key rotation failed');
      }
    };
    void rotateIfDue();
    const rotationTimer = setInterval(rotateIfDue, KEY_ROTATION_CHECK_MS).unref();
    deps.lifetime.defer(() => clearInterval(rotationTimer));
  }

  const purgeEvents = async () => {
    try {
      const removed = await events.purge();
      if (removed) log.debug({ removed }, 'old security events purged');
    } catch (err) {
      log.warn({ err }, 'purge of old security events failed');
    }
  };
  const purge = async () => {
    try {
      let removed = 0;
      for (let batch = await repos.payloads.purgeExpired(new Date(), PURGE_BATCH); batch > 0; ) {
        removed += batch;
        batch = batch === PURGE_BATCH ? await repos.payloads.purgeExpired(new Date(), PURGE_BATCH) : 0;
      }
      for (let batch = PURGE_BATCH; batch === PURGE_BATCH; ) {
        batch = await repos.replayKeys.purgeExpired(new Date(), PURGE_BATCH);
        removed += batch;
      }
      for (let batch = PURGE_BATCH; batch === PURGE_BATCH; ) {
        batch = await repos.accountTokens.purgeExpired(new Date(), PURGE_BATCH);
        removed += batch;
      }
      // sent and dead outbox rows are kept a week (their payload is emptied when done)
      for (let batch = PURGE_BATCH; batch === PURGE_BATCH; ) {
        batch = await repos.outbox.purgeDone(new Date(Date.now() - OUTBOX_KEEP_MS), PURGE_BATCH);
        removed += batch;
      }
      for (let batch = PURGE_BATCH; batch === PURGE_BATCH; ) {
        batch = await services.sessions.purge(PURGE_BATCH);
        removed += batch;
      }
      const keysRemoved = await keys.deleteExpired();
      // security events past EVENT_RETENTION_DAYS
      await purgeEvents();
      if (removed || keysRemoved) log.debug({ removed, keysRemoved }, 'expired rows purged');
    } catch (err) {
      log.warn({ err }, 'purge of expired rows failed');
    }
  };
  const timer = setInterval(purge, config.purgeIntervalSeconds * 1000).unref();
  deps.lifetime.defer(() => clearInterval(timer));

  // the outbox (mail, back-channel logout tokens): polls, and runs at once when a row is added here or on another instance
  services.outbox.start();
  deps.lifetime.defer(() => services.outbox.stop());
}
