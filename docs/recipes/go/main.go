// An API that accepts the identity provider's access tokens (RFC 9068), with
// github.com/golang-jwt/jwt/v4 and the standard library. GET /orders needs the scope
// orders:read.
//
//	ISSUER=https://id.example.com AUDIENCE=https://orders.example PORT=4000 go run .
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// keySet caches the issuer's JWKS: fetched again after maxAge (shorter than the issuer's
// KEY_PUBLISH_AHEAD_SECONDS, so new keys are known before they sign) and for an unknown kid
// at most once per refetch; the last good set keeps working while the issuer is unreachable.
type keySet struct {
	url       string
	maxAge    time.Duration
	refetch   time.Duration
	mu        sync.Mutex
	keys      map[string]interface{}
	fetchedAt time.Time
	triedAt   time.Time
}

type jwk struct {
	Kty, Kid, Crv, X, Y, N, E, Use string
}

func b64(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return new(big.Int).SetBytes(b), err
}

func (k jwk) publicKey() (interface{}, error) {
	switch {
	case k.Kty == "EC" && k.Crv == "P-256":
		x, err1 := b64(k.X)
		y, err2 := b64(k.Y)
		if err1 != nil || err2 != nil {
			return nil, errors.New("bad EC key")
		}
		return &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}, nil
	case k.Kty == "RSA":
		n, err1 := b64(k.N)
		e, err2 := b64(k.E)
		if err1 != nil || err2 != nil {
			return nil, errors.New("bad RSA key")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	}
	return nil, errors.New("unsupported key")
}

func (s *keySet) fetch() error {
	s.triedAt = time.Now()
	client := http.Client{Timeout: 5 * time.Second}
	res, err := client.Get(s.url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("JWKS answered %d", res.StatusCode)
	}
	var set struct{ Keys []jwk }
	if err := json.NewDecoder(io.LimitReader(res.Body, 512<<10)).Decode(&set); err != nil {
		return err
	}
	keys := map[string]interface{}{}
	for _, k := range set.Keys {
		if pub, err := k.publicKey(); err == nil && k.Use != "enc" {
			keys[k.Kid] = pub
		}
	}
	s.keys, s.fetchedAt = keys, time.Now()
	return nil
}

func (s *keySet) key(kid string) (interface{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil || time.Since(s.fetchedAt) > s.maxAge {
		if err := s.fetch(); err != nil && s.keys == nil {
			return nil, err // stale keys, if any, keep verifying
		}
	}
	if k, ok := s.keys[kid]; ok {
		return k, nil
	}
	if time.Since(s.triedAt) > s.refetch {
		_ = s.fetch()
		if k, ok := s.keys[kid]; ok {
			return k, nil
		}
	}
	return nil, errors.New("unknown kid")
}

type verifier struct {
	issuer, audience string
	keys             *keySet
	parser           *jwt.Parser
}

func (v *verifier) verify(raw string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (interface{}, error) {
		// RFC 9068 §4: an access token says so in its header (an ID token is signed with the same keys)
		if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, "at+jwt") {
			return nil, errors.New("not an access token")
		}
		kid, _ := t.Header["kid"].(string)
		return v.keys.key(kid)
	})
	if err != nil {
		return nil, err
	}
	if !claims.VerifyIssuer(v.issuer, true) || !claims.VerifyAudience(v.audience, true) {
		return nil, errors.New("wrong issuer or audience")
	}
	return claims, nil
}

func hasScope(claims jwt.MapClaims, want string) bool {
	scope, _ := claims["scope"].(string)
	for _, s := range strings.Fields(scope) {
		if s == want {
			return true
		}
	}
	return false
}

func (v *verifier) require(scope string, next func(http.ResponseWriter, *http.Request, jwt.MapClaims)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		header := r.Header.Get("Authorization")
		raw := strings.TrimPrefix(header, "Bearer ")
		if raw == header || raw == "" {
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_request"}`)
			return
		}
		claims, err := v.verify(raw)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_token"}`)
			return
		}
		if !hasScope(claims, scope) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope="%s"`, scope))
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":"insufficient_scope"}`)
			return
		}
		next(w, r, claims)
	}
}

func main() {
	issuer, audience := os.Getenv("ISSUER"), os.Getenv("AUDIENCE")
	jwksURI := os.Getenv("JWKS_URI")
	if jwksURI == "" {
		jwksURI = issuer + "/jwks"
	}
	maxAge := 5 * time.Minute // below the issuer's KEY_PUBLISH_AHEAD_SECONDS (600 by default)
	if seconds, err := time.ParseDuration(os.Getenv("JWKS_MAX_AGE") + "s"); err == nil && seconds > 0 {
		maxAge = seconds
	}
	v := &verifier{
		issuer:   issuer,
		audience: audience,
		keys:     &keySet{url: jwksURI, maxAge: maxAge, refetch: 10 * time.Second},
		parser:   jwt.NewParser(jwt.WithValidMethods([]string{"ES256", "RS256"})),
	}
	http.HandleFunc("/orders", v.require("orders:read", func(w http.ResponseWriter, r *http.Request, c jwt.MapClaims) {
		json.NewEncoder(w).Encode(map[string]interface{}{"sub": c["sub"], "client_id": c["client_id"]})
	}))
	listener, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", listener.Addr())
	log.Fatal(http.Serve(listener, nil))
}
