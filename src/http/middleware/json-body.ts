import type { Context } from 'koa';
import { AppError } from '../../errors.ts';

/** Reads a JSON object body: strict content type, bounded size, no duplicate parsing. */
export async function readJsonBody(ctx: Context, limit = 64 * 1024): Promise<unknown> {
  if (!ctx.is('application/json')) {
    throw new AppError('unsupported_media_type', 415, 'the body must be application/json');
  }
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > limit) throw new AppError('payload_too_large', 413, `the body must be at most ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new AppError('payload_too_large', 413, `the body must be at most ${limit} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new AppError('invalid_json', 400, 'the body is not valid JSON');
  }
}
