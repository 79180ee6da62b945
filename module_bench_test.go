package soloauth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// benchHandler is a provisioned-like handler without a Caddy context.
func benchHandler(scopes ...string) *SoloAuth {
	m := &SoloAuth{logger: zap.NewNop()}
	m.verifier = &jwt.Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}}
	m.verifier.EnableCache(jwt.DefaultCacheEntries)
	m.requiredScopes = scopes
	m.forbidden = forbiddenResponse(scopes)
	return m
}

var nextOK = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })

// BenchmarkServeHTTPCacheHit is the whole handler on a request whose
// token is cached: extraction, cache, scopes and placeholders, plus the
// request set-up that BenchmarkServeHTTPBaseline measures alone; the
// difference is solo_auth's cost.
func BenchmarkServeHTTPCacheHit(b *testing.B) {
	benchServeHTTP(b, benchHandler("templates:read"))
}

func BenchmarkServeHTTPBaseline(b *testing.B) {
	benchServeHTTP(b, nil)
}

// BenchmarkServeHTTPDistinct is the whole handler on tokens it has not
// cached, as in bench/run.sh's distinct load: 65,536 of them in turn,
// almost all gone from the cache's 16,384-slot doorkeeper by the time they
// come round again (about 2% are still there, and are then cached).
func BenchmarkServeHTTPDistinct(b *testing.B) {
	benchServeHTTP(b, benchHandler("templates:read"), tu.DistinctTokens(1<<16, func(c tu.Claims) string { return tu.HS256(tu.SecretA, c) })...)
}

func benchServeHTTP(b *testing.B, m *SoloAuth, tokens ...string) {
	if len(tokens) == 0 {
		tokens = []string{tu.HS256(tu.SecretA, tu.BenchClaims())}
	}
	w := httptest.NewRecorder()
	srv := &caddyhttp.Server{}
	base := httptest.NewRequest(http.MethodGet, "/", nil)
	authorization := make([][]string, len(tokens)) // not whole requests: a large live heap would make GC the measure
	for i, token := range tokens {
		authorization[i] = []string{"Bearer " + token}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		base.Header["Authorization"] = authorization[i%len(tokens)]
		r := caddyhttp.PrepareRequest(base, caddy.NewReplacer(), w, srv)
		var err error
		if m != nil {
			err = m.ServeHTTP(w, r, nextOK)
		} else {
			err = nextOK.ServeHTTP(w, r)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeHTTPQueryToken is BenchmarkServeHTTPCacheHit with the
// token in the access_token query parameter, which the handler removes
// from the request (and from Caddy's copy of the request as it arrived).
func BenchmarkServeHTTPQueryToken(b *testing.B) {
	m := benchHandler("templates:read")
	m.TokenQuery = "access_token"
	w := httptest.NewRecorder()
	srv := &caddyhttp.Server{}
	target := "/?a=1&access_token=" + tu.HS256(tu.SecretA, tu.BenchClaims())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		base := httptest.NewRequest(http.MethodGet, target, nil)
		r := caddyhttp.PrepareRequest(base, caddy.NewReplacer(), w, srv)
		if err := m.ServeHTTP(w, r, nextOK); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeHTTPQueryBaseline is the request set-up of
// BenchmarkServeHTTPQueryToken alone.
func BenchmarkServeHTTPQueryBaseline(b *testing.B) {
	w := httptest.NewRecorder()
	srv := &caddyhttp.Server{}
	target := "/?a=1&access_token=" + tu.HS256(tu.SecretA, tu.BenchClaims())
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		base := httptest.NewRequest(http.MethodGet, target, nil)
		r := caddyhttp.PrepareRequest(base, caddy.NewReplacer(), w, srv)
		if err := nextOK.ServeHTTP(w, r); err != nil {
			b.Fatal(err)
		}
	}
}
