import type { Config } from '../config/index.ts';
import type { Logger } from '../logger.ts';
import type { Lifetime } from './lifetime.ts';
import type { ProviderHolder } from './provider.ts';
import type { Repositories } from './repositories.ts';
import type { Services } from './services.ts';

const PURGE_BATCH = 1000;
const OUTBOX_KEEP_MS = 7 * 86_400_000;

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

  // another instance (or the CLI) rotated the keys: sign with the new ones from now on
  services.bus.subscribe((event) => {
    if (event !== 'all' && event.topic !== 'keys') return;
    keys
      .load()
      .then((loaded) => {
        if (JSON.stringify(loaded.keys) === JSON.stringify(keystore.current.keys)) return;
        keystore.current = loaded;
        holder.rebuild();
        log.info({ kids: loaded.keys.map((k) => k.kid) }, 'signing keys reloaded');
      })
      .catch((err: unknown) => log.error({ err }, 'reloading signing keys failed'));
  });

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

  // the outbox (mail): polls, and runs at once when a row is added here or on another instance
  services.outbox.start();
  deps.lifetime.defer(() => services.outbox.stop());
}
