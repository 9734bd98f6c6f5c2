import type { IncomingMessage } from 'node:http';

const FORM_LIMIT_BYTES = 16 * 1024;

/** Why a form body was refused; the status to answer with goes along. */
export class FormBodyError extends Error {
  override name = 'FormBodyError';
  readonly code: 'unsupported_media_type' | 'payload_too_large' | 'bad_request';
  readonly status: 400 | 413 | 415;
  constructor(code: FormBodyError['code'], message: string) {
    super(message);
    this.code = code;
    this.status = code === 'unsupported_media_type' ? 415 : code === 'payload_too_large' ? 413 : 400;
  }
}

/**
 * Reads an `application/x-www-form-urlencoded` body of at most `limit` bytes and returns its
 * fields (the first value of each). Stops reading as soon as the limit is passed, so a large
 * body costs us no more than `limit` bytes of memory.
 */
export async function readForm(req: IncomingMessage, limit = FORM_LIMIT_BYTES): Promise<Record<string, string>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new FormBodyError('unsupported_media_type', 'expected an application/x-www-form-urlencoded form');
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new FormBodyError('payload_too_large', `the form is larger than ${limit} bytes`);
  }

  // the edge (clean-input.ts) has looked at the body already; an empty one may have ended the stream
  if (req.readableEnded) return Object.create(null);
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // stop keeping it; the rest is read and dropped so the 413 can still be sent on this
        // connection (destroying the request would take the socket with it)
        req.off('data', onData);
        req.resume();
        reject(new FormBodyError('payload_too_large', `the form is larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
    // a client that goes away mid-body: settle instead of waiting for an 'end' that never comes
    req.once('close', () => {
      if (!req.complete) reject(new FormBodyError('bad_request', 'the request was aborted'));
    });
  });

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new FormBodyError('bad_request', 'the form is not valid UTF-8');
  }
  const fields: Record<string, string> = Object.create(null);
  for (const [name, value] of new URLSearchParams(text)) {
    if (!(name in fields)) fields[name] = value;
  }
  return fields;
}
