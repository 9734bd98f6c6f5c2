import type { IncomingMessage } from 'node:http';
import type { Context, Middleware } from 'koa';
import { AppError } from '../../errors.ts';
import { writeError } from './errors.ts';
import { MAX_BODY_BYTES, tooLarge } from './hardening.ts';

/**
 * Why a piece of text is refused: PostgreSQL's text and jsonb cannot hold U+0000, a lone
 * UTF-16 surrogate is not a Unicode string (it cannot be encoded as UTF-8, RFC 3629 §3), and
 * malformed percent-encoding (RFC 3986 §2.1) has no meaning.
 */
export function textProblem(value: string): string | undefined {
  if (value.includes('\u0000')) return 'contains a NUL character';
  if (!value.isWellFormed()) return 'is not valid Unicode (a lone surrogate)';
  return undefined;
}

const decode = (component: string): string | undefined => {
  try {
    return decodeURIComponent(component);
  } catch {
    return undefined;
  }
};

/**
 * Checks `a=b&c=d` as a form or a query string decodes it (`+` is a space).
 * @returns what is wrong, naming the parameter but never its value
 */
export function urlencodedProblem(text: string, where: string): string | undefined {
  if (text === '') return undefined;
  // The usual case in one call: decoding the whole text at once fails, or yields a NUL or a
  // lone surrogate, exactly when some name or value does (`&` and `=` are never part of a
  // percent-encoded sequence, so no sequence spans two of them). Only then is each part
  // decoded again, to name the one that is wrong.
  // Without a `%` nothing is decoded at all (a `+` becomes a space, which changes nothing here).
  if (!text.includes('%')) {
    if (textProblem(text) === undefined) return undefined;
  } else {
    const whole = decode(text.replaceAll('+', ' '));
    if (whole !== undefined && textProblem(whole) === undefined) return undefined;
  }
  for (const pair of text.split('&')) {
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    const name = decode(rawName.replaceAll('+', ' '));
    if (name === undefined) return `a ${where} name is not validly percent-encoded UTF-8`;
    const nameProblem = textProblem(name);
    if (nameProblem) return `a ${where} name ${nameProblem}`;
    if (eq === -1) continue;
    const value = decode(pair.slice(eq + 1).replaceAll('+', ' '));
    const label = name.length <= 64 ? `${where} "${name}"` : `a ${where}`;
    if (value === undefined) return `the ${label} is not validly percent-encoded UTF-8`;
    const valueProblem = textProblem(value);
    if (valueProblem) return `the ${label} ${valueProblem}`;
  }
  return undefined;
}

/** Every string and key of a parsed JSON value, without recursion (nesting depth is the sender's choice). */
export function jsonProblem(value: unknown): string | undefined {
  const stack: { value: unknown; path: string }[] = [{ value, path: '' }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value: v, path } = item;
    if (typeof v === 'string') {
      const problem = textProblem(v);
      if (problem) return `the JSON field ${path || '(body)'} ${problem}`;
    } else if (Array.isArray(v)) {
      v.forEach((entry, i) => {
        stack.push({ value: entry, path: path ? `${path}.${i}` : String(i) });
      });
    } else if (typeof v === 'object' && v !== null) {
      for (const [key, entry] of Object.entries(v)) {
        const keyProblem = textProblem(key);
        if (keyProblem) return `a JSON field name ${keyProblem}`;
        stack.push({ value: entry, path: path ? `${path}.${key}` : key });
      }
    }
  }
  return undefined;
}

type Peeked = { kind: 'body'; body: Buffer } | { kind: 'too_large' } | { kind: 'aborted' };

/**
 * Reads the whole request body and puts it back (`readable.unshift`, made for parsers that
 * must look ahead), so whoever parses it afterwards — oidc-provider's own body parser, our
 * form and JSON readers — reads the stream as if it had not been touched. Nothing is read
 * past `limit`. A body with bytes is put back before the stream could emit 'end'; an empty
 * chunked body may end it (there is nothing to put back), which readers must allow for.
 */
export function peekBody(req: IncomingMessage, limit: number): Promise<Peeked> {
  if (req.complete && req.readableLength === 0) return Promise.resolve({ kind: 'body', body: Buffer.alloc(0) });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (result: Peeked) => {
      req.off('readable', onReadable);
      req.off('close', onClose);
      req.off('error', onClose);
      resolve(result);
    };
    const onReadable = () => {
      while (req.readableLength > 0) {
        const chunk = req.read() as Buffer | null;
        if (chunk === null) break;
        chunks.push(chunk);
        size += chunk.length;
        if (size > limit) {
          settle({ kind: 'too_large' });
          // read and drop the rest so the answer can still be sent on this connection
          req.resume();
          return;
        }
      }
      if (!req.complete) return;
      const body = Buffer.concat(chunks, size);
      settle({ kind: 'body', body });
      if (size > 0) req.unshift(body);
    };
    const onClose = () => {
      if (!req.complete) settle({ kind: 'aborted' });
    };
    req.on('readable', onReadable);
    req.once('close', onClose);
    req.once('error', onClose);
  });
}

export interface CleanInputOptions {
  /** renders a 400 page for browsers on the page paths */
  page(ctx: Context, message: string): void;
}

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Refuses, once and at the edge, text no endpoint can use: U+0000 or a lone surrogate in the
 * decoded path, the query, a form or a JSON body; malformed percent-encoding. Every endpoint
 * behind it (oidc-provider's included) then only ever meets text PostgreSQL can store, so this
 * input is a 400 rather than a database error. Header values need no check: Node's HTTP parser
 * refuses control characters in them, and decodes them as Latin-1 (no surrogates).
 */
export function cleanInput(options: CleanInputOptions): Middleware {
  // a browser on a page path gets the 400 page
  const page = (ctx: Context, err: AppError) => options.page(ctx, err.message);
  const refuse = (ctx: Context, message: string) =>
    writeError(ctx, new AppError('invalid_request', 400, message), page);

  return async (ctx, next) => {
    const path = decode(ctx.path);
    if (path === undefined) return refuse(ctx, 'the path is not validly percent-encoded UTF-8');
    const pathProblem = textProblem(path);
    if (pathProblem) return refuse(ctx, `the path ${pathProblem}`);
    const queryProblem = urlencodedProblem(ctx.querystring, 'query parameter');
    if (queryProblem) return refuse(ctx, queryProblem);

    if (METHODS_WITH_BODY.has(ctx.method) && ctx.get('content-length') !== '0') {
      const type = ctx.is('application/x-www-form-urlencoded', 'application/json');
      if (type) {
        const peeked = await peekBody(ctx.req, MAX_BODY_BYTES);
        if (peeked.kind === 'too_large') {
          ctx.set('Connection', 'close');
          return writeError(ctx, tooLarge());
        }
        if (peeked.kind === 'aborted') return refuse(ctx, 'the request was aborted');
        // An empty chunked body may have ended the stream while it was watched (there was
        // nothing to put back): oidc-provider then reads the body from here instead.
        if (peeked.body.length === 0) Object.assign(ctx.request, { body: '' });
        const problem = bodyProblem(peeked.body, type);
        if (problem) return refuse(ctx, problem);
      }
    }
    await next();
  };
}

function bodyProblem(body: Buffer, type: string): string | undefined {
  // the parsers decode the bytes as UTF-8 (or a declared charset): a 0 byte is U+0000 in
  // UTF-8 and in every charset a form could declare that is not UTF-16 (refused here too)
  if (body.includes(0)) return 'the body contains a NUL character';
  const text = body.toString('utf8');
  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: the endpoint refuses it with its own message
      return undefined;
    }
    return jsonProblem(parsed);
  }
  return urlencodedProblem(text, 'form field');
}
