import pino from 'pino';

export type Logger = pino.Logger;

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLORS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };

function value(v: unknown): string {
  if (typeof v === 'string') return v !== '' && !/[\s"=]/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/**
 * One pino JSON line as a person reads it: `time LEVEL msg key=value ...`, an error's stack
 * indented below. A line that is not a JSON object passes through unchanged.
 */
export function formatLogLine(line: string, color = false): string {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      return line.endsWith('\n') ? line : `${line}\n`;
    record = parsed as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const { time, level, msg, err, ...rest } = record;
  const when = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '';
  const levelNumber = typeof level === 'number' ? level : 30;
  const name = (LEVELS[levelNumber] ?? String(level)).padEnd(5);
  const paint = (code: string | undefined, text: string) => (color && code ? `\x1b[${code}m${text}\x1b[0m` : text);
  const parts = [paint('90', when), paint(COLORS[levelNumber], name), typeof msg === 'string' ? msg : ''];
  const error = typeof err === 'object' && err !== null ? (err as { message?: unknown; stack?: unknown }) : undefined;
  if (error) parts.push(`err=${value(error.message)}`);
  for (const [key, v] of Object.entries(rest)) parts.push(paint('90', `${key}=`) + value(v));
  let out = parts.filter((p) => p !== '').join(' ');
  if (error && typeof error.stack === 'string') out += `\n${error.stack.replace(/^/gm, '    ')}`;
  return `${out}\n`;
}

/**
 * JSON logs on stdout (one object per line, for a log collector), or with `pretty` (development
 * on a terminal) lines formatted by `formatLogLine`. Secrets are redacted wherever a careless
 * caller might log them, in both forms.
 */
export function createLogger(level: string, options: { pretty?: boolean } = {}): Logger {
  const opts: pino.LoggerOptions = {
    level,
    base: null,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'res.headers["set-cookie"]',
        '*.password',
        '*.client_secret',
        '*.clientSecret',
        '*.secret',
      ],
      censor: '[redacted]',
    },
  };
  if (!options.pretty) return pino(opts);
  const color = process.stdout.hasColors?.() ?? false;
  return pino(opts, { write: (line: string) => process.stdout.write(formatLogLine(line, color)) });
}
