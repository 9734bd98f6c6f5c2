import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatLogLine } from '../../src/logger.ts';

describe('the development log formatter', () => {
  const time = Date.UTC(2026, 10, 28, 9, 8, 7, 123);

  test('time, level, message, then key=value', () => {
    const line = JSON.stringify({
      level: 30,
      time,
      msg: 'listening',
      url: 'http://localhost:3000',
      database: 'embedded',
    });
    assert.equal(formatLogLine(line), '09:08:07.123 INFO  listening url=http://localhost:3000 database=embedded\n');
  });

  test('quotes a value with spaces, writes objects as JSON, names every level', () => {
    const line = JSON.stringify({ level: 40, time, msg: 'careful', reason: 'two words', n: 3, ids: ['a'], empty: '' });
    assert.equal(formatLogLine(line), '09:08:07.123 WARN  careful reason="two words" n=3 ids=["a"] empty=""\n');
    for (const [level, name] of [
      [10, 'TRACE'],
      [20, 'DEBUG'],
      [50, 'ERROR'],
      [60, 'FATAL'],
    ] as const) {
      assert.match(formatLogLine(JSON.stringify({ level, time, msg: 'm' })), new RegExp(` ${name} +m\\n$`));
    }
  });

  test('an error: its message inline, its stack indented below', () => {
    const line = JSON.stringify({
      level: 50,
      time,
      msg: 'failed',
      err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (x.ts:1:1)' },
    });
    assert.equal(formatLogLine(line), '09:08:07.123 ERROR failed err=boom\n    Error: boom\n        at f (x.ts:1:1)\n');
  });

  test('colours only when asked', () => {
    const line = JSON.stringify({ level: 30, time, msg: 'hi' });
    assert.ok(!formatLogLine(line).includes('\x1b['));
    assert.ok(formatLogLine(line, true).includes('\x1b[32mINFO \x1b[0m'));
  });

  test('a line that is not a JSON object passes through unchanged', () => {
    assert.equal(formatLogLine('plain text\n'), 'plain text\n');
    assert.equal(formatLogLine('[1,2]'), '[1,2]\n');
  });
});
