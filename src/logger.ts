import pino from 'pino';

export type Logger = pino.Logger;

/** JSON logs on stdout. Secrets are redacted wherever a careless caller might log them. */
export function createLogger(level: string): Logger {
  return pino({
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
  });
}
