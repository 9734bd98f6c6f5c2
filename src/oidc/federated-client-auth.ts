import type { IncomingMessage } from 'node:http';
import { parse, stringify } from 'node:querystring';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { FederationService } from '../services/federation.ts';
import { JWT_BEARER_ASSERTION } from '../services/federation.ts';

type Next = () => Promise<unknown>;

/**
 * The whole body, when it has been read already and put back (the clean-input check at the
 * edge does that for every form): taken out of the stream's buffer as it is. `undefined` when
 * it has not arrived whole, which leaves the request untouched.
 */
function takeBufferedBody(req: IncomingMessage): Buffer | undefined {
  if (!req.complete || req.readableLength === 0 || !req.readable) return undefined;
  const chunks: Buffer[] = [];
  for (let chunk = req.read() as Buffer | null; chunk !== null; chunk = req.read() as Buffer | null) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * Puts a body back into the stream, for oidc-provider's parser, in the same tick it was taken
 * (before the stream could end), with the length it now has.
 */
function putBack(req: IncomingMessage, body: Buffer) {
  if (req.headers['content-length'] !== undefined) req.headers['content-length'] = String(body.length);
  req.unshift(body);
}

/**
 * Whether a form can name `client_assertion`: it does so literally, or some parameter name is
 * percent-encoded (and might spell it). Most token requests do neither and skip the parse.
 */
function mayHoldAssertion(raw: Buffer): boolean {
  const text = raw.toString('latin1');
  return text.includes('client_assertion') || PERCENT_IN_A_NAME.test(text);
}
const PERCENT_IN_A_NAME = /(?:^|&)[^=&]*%/;

const one = (value: string | string[] | undefined) => (typeof value === 'string' ? value : undefined);

/**
 * Workload identity federation at the token endpoint (ADR 0017). A request whose
 * `client_assertion` (RFC 7523 §2.2) comes from a registered federated issuer is verified here,
 * before oidc-provider sees it: the issuer's keys, an asymmetric algorithm, exactly the
 * registered audience, a lifetime of at most an hour, and a (iss, sub) bound to a client. The
 * assertion is then taken out of the request and replaced by the client's id and a proof
 * made for this request alone, which the client's secret check accepts
 * (`FederationService.acceptsProof`). Everything else about the request (grant, scopes, rate
 * limits, events) is oidc-provider's and ours as for any confidential client.
 *
 * A refusal is RFC 6749 §5.2 `invalid_client`, saying nothing of why; the reason goes to the
 * `client.auth_failed` event (through `ctx.state.clientAuthFailure`). An assertion whose `iss`
 * is not a URL (a `private_key_jwt` client's own: its `iss` is its client_id) passes through
 * untouched; one whose `iss` is a URL but no registered issuer is refused (`unknown_issuer`).
 */
export function federatedClientAuth(federation: FederationService, tokenPath: string) {
  // a client authenticating with a header is not presenting an assertion (checked again below):
  // it passes straight through, without an async frame
  return function federated(ctx: KoaContextWithOIDC, next: Next) {
    if (ctx.method !== 'POST' || ctx.path !== tokenPath || ctx.get('authorization') !== '') return next();
    return fromBody(ctx, next);
  };
  async function fromBody(ctx: KoaContextWithOIDC, next: Next) {
    if (!ctx.is('application/x-www-form-urlencoded')) return next();
    const raw = takeBufferedBody(ctx.req);
    if (raw === undefined) return next();
    // back at once, in this tick: the stream would end while the assertion is being verified
    putBack(ctx.req, raw);
    if (!mayHoldAssertion(raw)) return next();
    const form = parse(raw.toString('utf8'));
    const assertion = one(form.client_assertion);
    const iss = assertion && one(form.client_assertion_type) === JWT_BEARER_ASSERTION ? issuerOf(assertion) : undefined;
    // one way to authenticate, each parameter once: anything else is oidc-provider's to refuse
    const alone = ctx.get('authorization') === '' && form.client_secret === undefined && !Array.isArray(form.client_id);
    if (assertion === undefined || iss === undefined || !alone) return next();
    const result = await federation.verifyAssertion(assertion, one(form.client_id));
    if (!result.ok) {
      ctx.state.clientAuthFailure = {
        method: 'federated_jwt',
        reason: result.reason,
        issuer: result.issuer,
        federated_subject: result.subject,
      };
      ctx.status = 401;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'invalid_client', error_description: 'client authentication failed' };
      return;
    }
    const { proof, release } = federation.issueProof(result.clientId);
    const { client_assertion: _, client_assertion_type: __, ...rest } = form;
    // taken out and put back in the same tick
    takeBufferedBody(ctx.req);
    putBack(ctx.req, Buffer.from(stringify({ ...rest, client_id: result.clientId, client_secret: proof })));
    try {
      await next();
    } finally {
      release();
    }
  }
}

/** `iss` of a JWT, unverified: only to choose the path (the verification follows). */
function issuerOf(assertion: string): string | undefined {
  const payload = assertion.split('.')[1];
  if (payload === undefined || payload.length > 16 * 1024) return undefined;
  try {
    const iss = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iss?: unknown }).iss;
    // an issuer is a URL; a client's own assertion names its client_id, never a URL
    return typeof iss === 'string' && iss.includes('://') ? iss : undefined;
  } catch {
    return undefined;
  }
}
