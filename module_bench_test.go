package soloauth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// benchHandler is a provisioned-like handler without a Caddy context.
func benchHandler(scopes ...string) *SoloAuth {
	m := &SoloAuth{logger: zap.NewNop()}
	m.verifier = &Verifier{Secrets: [][]byte{[]byte(secretA)}}
	m.verifier.EnableCache(DefaultCacheEntries)
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

func benchServeHTTP(b *testing.B, m *SoloAuth) {
	token := "Bearer " + tu.HS256(secretA, benchClaims())
	w := httptest.NewRecorder()
	srv := &caddyhttp.Server{}
	base := httptest.NewRequest(http.MethodGet, "/", nil)
	base.Header.Set("Authorization", token)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
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
