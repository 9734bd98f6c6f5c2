import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config/index.ts';
import { openDatabase } from '../../src/db/database.ts';
import { startServer } from '../../src/server.ts';

/** The embedded database's DATA_DIR: private files, and a lock that waits for a dying owner. */

const dirs: string[] = [];
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'idp-datadir-'));
  dirs.push(dir);
  return dir;
};
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const capture = () => {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
};

/** every entry under `dir` (and `dir` itself) with group or other permission bits */
const widerThanPrivate = (dir: string): string[] => {
  const wide: string[] = [];
  const visit = (path: string) => {
    const stat = statSync(path);
    if ((stat.mode & 0o077) !== 0) wide.push(`${(stat.mode & 0o777).toString(8)} ${path}`);
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
  return wide;
};

describe('DATA_DIR is private', () => {
  test('regression: with a permissive umask, the embedded database and the generated key are 0700/0600', async () => {
    const dataDir = join(freshDir(), 'data');
    const umask = process.umask(0);
    try {
      const { log, lines } = capture();
      const server = await startServer(loadConfig({ NODE_ENV: 'test', PORT: '0', DATA_DIR: dataDir }), log);
      try {
        assert.equal(statSync(dataDir).mode & 0o777, 0o700);
        assert.equal(statSync(join(dataDir, 'pgdata')).mode & 0o777, 0o700);
        assert.equal(statSync(join(dataDir, 'secrets.key')).mode & 0o777, 0o600);
        assert.equal(statSync(join(dataDir, 'pgdata.lock')).mode & 0o777, 0o600);
        const res = await fetch(`${server.url}/healthz`);
        assert.equal(res.status, 200);
      } finally {
        await server.close(100);
      }
      assert.deepEqual(widerThanPrivate(dataDir), []);
      // a fresh directory is private from the start: nothing to warn about
      assert.ok(!lines.some((l) => String(l.msg).includes('readable by other users')));
    } finally {
      process.umask(umask);
    }
  });

  test('regression: an existing world-readable DATA_DIR is made private at start, with a warning', async () => {
    const dataDir = join(freshDir(), 'data');
    const first = await startServer(loadConfig({ NODE_ENV: 'test', PORT: '0', DATA_DIR: dataDir }), capture().log);
    await first.close(100);
    // as an older version left it
    const widen = (path: string) => {
      const stat = statSync(path);
      chmodSync(path, stat.isDirectory() ? 0o755 : 0o666);
      if (stat.isDirectory()) for (const name of readdirSync(path)) widen(join(path, name));
    };
    widen(dataDir);
    assert.ok(widerThanPrivate(dataDir).length > 10);

    const { log, lines } = capture();
    const second = await startServer(loadConfig({ NODE_ENV: 'test', PORT: '0', DATA_DIR: dataDir }), log);
    try {
      const warning = lines.find((l) => String(l.msg).includes('DATA_DIR was readable by other users'));
      assert.ok(warning, JSON.stringify(lines.map((l) => l.msg)));
      assert.equal(warning.level, 40);
      assert.equal(warning.dataDir, dataDir);
    } finally {
      await second.close(100);
    }
    assert.deepEqual(widerThanPrivate(dataDir), []);
  });
});

describe('the embedded database lock', () => {
  const holdLock = (dataDir: string, ms: number) => {
    const child = spawn(process.execPath, ['-e', `setTimeout(() => {}, ${ms})`], { stdio: 'ignore' });
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'pgdata.lock'), String(child.pid));
    return child;
  };

  test('regression: a start right after the previous owner was stopped waits for it instead of failing', async () => {
    const dataDir = freshDir();
    const child = holdLock(dataDir, 1500);
    const started = Date.now();
    const db = await openDatabase({ databaseUrl: undefined, dataDir }, capture().log);
    try {
      assert.ok(Date.now() - started >= 1000, 'it waited for the owner');
      await db.ping();
    } finally {
      await db.close();
      child.kill();
    }
  });

  test('regression: a killed owner not yet reaped (a zombie) does not hold the lock', async (t) => {
    const dataDir = freshDir();
    // the shell starts `sleep`, then becomes another program that never reaps it: once killed,
    // that sleep stays a zombie, which kill(pid, 0) still finds
    const parent = spawn('sh', ['-c', 'sleep 60 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const [line] = (await once(parent.stdout, 'data')) as [Buffer];
    const pid = Number(String(line).trim());
    try {
      process.kill(pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
      if (!/\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) {
        t.skip('no zombie could be made here');
        return;
      }
      writeFileSync(join(dataDir, 'pgdata.lock'), String(pid));
      // were the zombie counted as the owner, the open would wait out the lock and then fail
      const db = await openDatabase({ databaseUrl: undefined, dataDir }, capture().log);
      await db.close();
    } finally {
      parent.kill('SIGKILL');
    }
  });

  test('regression: an owner that stays is named, with DATA_DIR and what to do, after a bounded wait', async () => {
    const dataDir = freshDir();
    const child = holdLock(dataDir, 60_000);
    const started = Date.now();
    try {
      await assert.rejects(openDatabase({ databaseUrl: undefined, dataDir }, capture().log), (err: Error) => {
        assert.match(err.message, new RegExp(`DATA_DIR ${dataDir}`));
        assert.match(err.message, new RegExp(`process ${child.pid}`));
        assert.match(err.message, /stop that process/);
        return true;
      });
      const waited = Date.now() - started;
      assert.ok(waited >= 9000 && waited < 15_000, `waited ${waited} ms`);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
