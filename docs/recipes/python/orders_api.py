"""An API that accepts the identity provider's access tokens (RFC 9068), with PyJWT.

GET /orders needs the scope orders:read. Standard library HTTP server, for the recipe only:
in Flask, FastAPI or Django call `verify()` the same way from a decorator or dependency.

    ISSUER=https://id.example.com AUDIENCE=https://orders.example PORT=4000 python3 orders_api.py
"""
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt  # PyJWT, with cryptography for ES256/RS256 (Debian: python3-jwt)

ISSUER = os.environ["ISSUER"]
AUDIENCE = os.environ["AUDIENCE"]
JWKS_URI = os.environ.get("JWKS_URI", ISSUER + "/jwks")

# Caches the JWKS for 5 minutes (keep it below the issuer's KEY_PUBLISH_AHEAD_SECONDS, so new
# keys are known before they sign). PyJWKClient fetches again for an unknown kid on its own;
# _unknown_kid_at bounds that to once per 10 seconds.
_jwks = jwt.PyJWKClient(JWKS_URI, cache_jwk_set=True, lifespan=int(os.environ.get("JWKS_MAX_AGE", "300")))
_unknown_kid_at = 0.0


class Refused(Exception):
    def __init__(self, status, error, scope=None):
        super().__init__(error)
        self.status, self.error, self.scope = status, error, scope


def verify(authorization, scope):
    global _unknown_kid_at
    if not authorization or not authorization.startswith("Bearer "):
        raise Refused(401, "invalid_request")
    token = authorization[len("Bearer "):]
    try:
        header = jwt.get_unverified_header(token)
        # RFC 9068 section 4: an access token says so (an ID token is signed with the same keys)
        if header.get("typ", "").lower() != "at+jwt":
            raise Refused(401, "invalid_token")
        kid = header.get("kid")
        known = any(k.key_id == kid for k in _jwks.get_signing_keys())
        if not known and time.monotonic() - _unknown_kid_at < 10:
            raise Refused(401, "invalid_token")
        if not known:
            _unknown_kid_at = time.monotonic()
        key = _jwks.get_signing_key(kid)
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["ES256", "RS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "client_id"]},
            leeway=5,
        )
    except jwt.PyJWKClientError as err:
        # the issuer could not be reached (PyJWT 2.7+ raises PyJWKClientConnectionError for it)
        if "Fail to fetch" in str(err) or type(err).__name__ == "PyJWKClientConnectionError":
            raise Refused(503, "temporarily_unavailable")
        raise Refused(401, "invalid_token")
    except jwt.PyJWTError:
        raise Refused(401, "invalid_token")
    if scope not in claims.get("scope", "").split():
        raise Refused(403, "insufficient_scope", scope)
    return claims


class Handler(BaseHTTPRequestHandler):
    def answer(self, status, body, www=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if www:
            self.send_header("WWW-Authenticate", www)
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def do_GET(self):
        if self.path != "/orders":
            return self.answer(404, {"error": "not_found"})
        try:
            claims = verify(self.headers.get("Authorization"), "orders:read")
        except Refused as refused:
            www = "Bearer" if refused.error == "invalid_request" else f'Bearer error="{refused.error}"'
            if refused.scope:
                www += f', scope="{refused.scope}"'
            return self.answer(refused.status, {"error": refused.error}, www)
        self.answer(200, {"sub": claims["sub"], "client_id": claims["client_id"]})

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "4000"))), Handler)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
