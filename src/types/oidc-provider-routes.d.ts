// oidc-provider's route definitions, imported to replace one step of two routes
// (src/oidc/jwt-access-tokens.ts). The package ships no types for its internals.
declare module 'oidc-provider/lib/actions/introspection.js' {
  const route: unknown[];
  export default route;
}
declare module 'oidc-provider/lib/actions/revocation.js' {
  const route: unknown[];
  export default route;
}
declare module 'oidc-provider/lib/shared/reject_structured_tokens.js' {
  import type { KoaContextWithOIDC } from 'oidc-provider';
  export default function rejectStructuredTokens(
    ctx: KoaContextWithOIDC,
    next: () => Promise<unknown>,
  ): Promise<unknown>;
}
