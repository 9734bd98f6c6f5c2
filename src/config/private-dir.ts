import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../logger.ts';

/**
 * DATA_DIR holds the embedded database (its WAL carries refresh tokens and password hashes) and
 * the generated secrets key: it is for the owner alone. Directories become 0700 and files 0600,
 * whatever the umask was and whatever modes the files were created with (PGlite creates its
 * files 0666 and ignores the umask for them).
 * @returns how many directories were open to other users before (files inside a private
 *   directory are out of reach whatever their mode, so only directories count as exposure)
 */
export function makePrivate(dir: string, log: Logger): number {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let exposedDirs = 0;
  const pending = [dir];
  for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
    let stat: ReturnType<typeof lstatSync>;
    try {
      stat = lstatSync(path);
    } catch {
      continue; // removed meanwhile
    }
    // a link is not followed: what it points to is not ours to change
    if (stat.isSymbolicLink()) continue;
    const directory = stat.isDirectory();
    if ((stat.mode & 0o077) !== 0) {
      if (directory) exposedDirs++;
      try {
        chmodSync(path, directory ? 0o700 : 0o600);
      } catch (err) {
        log.warn({ err, path }, 'could not make a file in DATA_DIR private');
      }
    }
    if (directory) for (const name of readdirSync(path)) pending.push(join(path, name));
  }
  return exposedDirs;
}

/** `makePrivate`, logging a warning when other users could read the data before. */
export function securePrivateDir(dir: string, log: Logger): void {
  const exposed = makePrivate(dir, log);
  if (exposed > 0) {
    log.warn(
      { dataDir: dir, directories: exposed },
      'DATA_DIR was readable by other users; it is now private (0700 directories, 0600 files). Anyone who could read it may have copied tokens, password hashes or the secrets key',
    );
  }
}
