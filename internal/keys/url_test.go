package keys

import (
	"errors"
	"net/http"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://api.workos.com/sso/jwks/client_1":         "https://api.workos.com/sso/jwks/client_1",
		"https://user:pass@idp.example/jwks":               "https://xxxxx@idp.example/jwks",
		"https://token@idp.example/jwks":                   "https://xxxxx@idp.example/jwks",
		"https://idp.example/jwks?access_token=s3cr3t&a=b": "https://idp.example/jwks?xxxxx",
		"https://u:p@idp.example:8443/jwks?t=1#frag":       "https://xxxxx@idp.example:8443/jwks?xxxxx",
		"https://idp.example/jwks?":                        "https://idp.example/jwks?xxxxx",
		"/relative?code=1":                                 "/relative?xxxxx",
		"":                                                 "",
		"http://[::1%zz/x?t=s3cr3t":                        "(unparseable URL)",
	} {
		if got := RedactURL(raw); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestPlainHTTPOffLoopback(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://idp.example/jwks":      false,
		"http://127.0.0.1:8080/jwks":    false,
		"http://127.9.9.9/jwks":         false,
		"http://[::1]:9000/jwks":        false,
		"http://localhost/jwks":         false,
		"http://LocalHost.:80/jwks":     false,
		"http://idp.example/jwks":       true,
		"HTTP://idp.example/jwks":       true,
		"http://10.0.0.1/jwks":          true,
		"http://localhost.evil.example": true,
		"http://128.0.0.1/jwks":         true,
	} {
		if got := plainHTTPOffLoopback(raw); got != want {
			t.Errorf("plainHTTPOffLoopback(%q) = %v, want %v", raw, got, want)
		}
	}
}

type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network in this test")
}

// TestKeySetWarnsOncePerSetOnPlainHTTP: a key set fetched over plain http
// off loopback says so at start, once, however many handlers use it.
func TestKeySetWarnsOncePerSetOnPlainHTTP(t *testing.T) {
	for url, wantWarnings := range map[string]int{
		"http://idp.example/jwks?token=s3cr3t": 1,
		"http://127.0.0.1:1/jwks":              0,
		"https://idp.example/jwks":             0,
	} {
		core, logs := observer.New(zapcore.WarnLevel)
		ks := New(Config{URL: url, Refresh: time.Hour, Logger: zap.New(core), Clock: tu.NewClock(),
			Client: &http.Client{Transport: failingTransport{}}})
		ks.Start()
		ks.AddUser(time.Minute, nil, nil)
		ks.Destruct()
		warnings := logs.FilterMessageSnippet("plain http").All()
		if len(warnings) != wantWarnings {
			t.Errorf("%s: %d warnings about plain http, want %d", url, len(warnings), wantWarnings)
		}
		for _, w := range warnings {
			if got := w.ContextMap()["url"]; got != "http://idp.example/jwks?xxxxx" {
				t.Errorf("warning shows url %q", got)
			}
		}
	}
}
