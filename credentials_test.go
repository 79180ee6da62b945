package soloauth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/solo-one/caddy-solo-auth/internal/keys"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"

	"github.com/prometheus/client_golang/prometheus"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestCredentialsInJWKSURLNeverShown: a JWKS URL with userinfo and a
// token in its query is fetched as written, but shown redacted wherever
// it is shown: logs, errors, the admin API, metric labels, the saved copy.
// The saved copy is still named after the full URL.
func TestCredentialsInJWKSURLNeverShown(t *testing.T) {
	keySets.minInterval = time.Nanosecond // every unknown kid fetches
	t.Cleanup(func() { keySets.minInterval = 0 })
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	host := srv.Listener.Addr().String()
	secretURL := "http://user:pa55@" + host + "/jwks?token=s3cr3t"
	otherURL := "http://other:pa55@" + host + "/jwks?token=s3cr3t2" // shows the same
	deadURL := "http://user:pa55@127.0.0.1:1/jwks?token=s3cr3t"     // connection refused
	shown := "http://xxxxx@" + host + "/jwks?xxxxx"
	core, logs := observer.New(zapcore.DebugLevel)
	store := &tu.MemStore{}
	var acquired []*keys.Set
	for _, u := range []string{secretURL, otherURL, deadURL} {
		ks, user, err := keySets.acquire(context.Background(), store, u, time.Hour, zap.New(core))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { keySets.release(ks, user) })
		awaitSettled(t, ks)
		acquired = append(acquired, ks)
	}
	srv.Set(500, "down") // a failed refresh, logged
	acquired[0].RSAKeys(context.Background(), "unknown")

	leaks := func(where, s string) {
		t.Helper()
		for _, secret := range []string{"pa55", "s3cr3t", "user:", "other:"} {
			if strings.Contains(s, secret) {
				t.Errorf("%s shows %q: %s", where, secret, s)
			}
		}
	}
	for _, e := range logs.All() {
		leaks("log "+e.Message, fmt.Sprint(e.ContextMap()))
	}
	if logs.FilterField(zap.String("url", shown)).Len() == 0 {
		t.Errorf("no log line shows the redacted URL %s", shown)
	}
	for _, ks := range acquired {
		st := ks.Status()
		leaks("status", fmt.Sprintf("%+v", st))
	}

	rec := httptest.NewRecorder()
	if err := serveKeys(rec, httptest.NewRequest(http.MethodGet, "/solo_auth/keys", nil)); err != nil {
		t.Fatal(err)
	}
	leaks("admin API", rec.Body.String())
	if !strings.Contains(rec.Body.String(), `"url":"`+shown+`"`) {
		t.Errorf("admin API lacks %s: %s", shown, rec.Body.String())
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(jwksFetchesTotal, keySetCollector{})
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("metrics: %v", err) // two sets that show alike must not collide
	}
	var labels []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
		}
	}
	leaks("metric labels", strings.Join(labels, " "))
	if !slices.Contains(labels, shown) {
		t.Errorf("no metric label %s in %v", shown, labels)
	}

	saved, err := store.Load(context.Background(), keys.StorageKey(secretURL))
	if err != nil {
		t.Fatalf("the saved copy is not named after the full URL: %v", err)
	}
	leaks("saved copy", string(saved))
}
