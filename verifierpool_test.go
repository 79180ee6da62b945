package soloauth

import (
	"slices"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"

	"github.com/caddyserver/caddy/v2"
)

// TestVerifierSharedPerKeyConfig: directives of one key configuration get
// one verifier (one cache); a difference in any field that decides a
// token's fate gets another; scopes are not part of it.
func TestVerifierSharedPerKeyConfig(t *testing.T) {
	base := keyConfig{
		secrets:     [][]byte{[]byte(tu.SecretA)},
		jwksURLs:    []string{"http://127.0.0.1:1/jwks", "http://127.0.0.1:2/jwks"},
		jwksFiles:   []string{"/etc/a.json\x00digest1"},
		issuers:     []string{"https://a"},
		audiences:   []string{"api"},
		scopeClaims: []string{"permissions"},
		leeway:      30 * time.Second,
	}
	first, key, err := acquireVerifier(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer releaseVerifier(key)
	again, againKey, _ := acquireVerifier(base, nil)
	if again != first || againKey != key {
		t.Fatal("the same key configuration got a second verifier")
	}
	if n, _ := verifiers.References(key); n != 2 {
		t.Fatalf("%d references, want 2", n)
	}
	releaseVerifier(againKey)

	variants := map[string]func(k *keyConfig){
		"another secret":            func(k *keyConfig) { k.secrets = [][]byte{[]byte(tu.SecretB)} },
		"a second secret":           func(k *keyConfig) { k.secrets = append(k.secrets, []byte(tu.SecretB)) },
		"no key set":                func(k *keyConfig) { k.jwksURLs, k.jwksFiles = nil, nil },
		"one URL fewer":             func(k *keyConfig) { k.jwksURLs = k.jwksURLs[:1] },
		"a third URL":               func(k *keyConfig) { k.jwksURLs = append(slices.Clone(k.jwksURLs), "http://127.0.0.1:3/jwks") },
		"URLs joined differently":   func(k *keyConfig) { k.jwksURLs = []string{"http://127.0.0.1:1/jwkshttp://127.0.0.1:2/jwks"} },
		"a URL moved to the files":  func(k *keyConfig) { k.jwksURLs, k.jwksFiles = k.jwksURLs[:1], []string{k.jwksURLs[1], k.jwksFiles[0]} },
		"the file changed":          func(k *keyConfig) { k.jwksFiles = []string{"/etc/a.json\x00digest2"} },
		"no file":                   func(k *keyConfig) { k.jwksFiles = nil },
		"another issuer":            func(k *keyConfig) { k.issuers = []string{"https://b"} },
		"issuers split differently": func(k *keyConfig) { k.issuers = []string{"https:", "//a"} },
		"the audience as an issuer": func(k *keyConfig) { k.issuers, k.audiences = []string{"https://a", "api"}, nil },
		"no audience":               func(k *keyConfig) { k.audiences = nil },
		"another scope claim":       func(k *keyConfig) { k.scopeClaims = []string{"scope"} },
		"another leeway":            func(k *keyConfig) { k.leeway = 0 },
		"secret bytes moved to the URL": func(k *keyConfig) {
			k.secrets, k.jwksURLs = [][]byte{[]byte(tu.SecretA + "x")}, []string{"ttp://127.0.0.1:1/jwks", k.jwksURLs[1]}
		},
		"an issuer moved to the secrets": func(k *keyConfig) { k.secrets, k.issuers = [][]byte{[]byte(tu.SecretA), []byte("https://a")}, nil },
	}
	seen := map[string]string{key: "base"}
	for name, change := range variants {
		k := base
		change(&k)
		v, vKey, err := acquireVerifier(k, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v == first {
			t.Errorf("%s: shares the base configuration's verifier", name)
		}
		if other, dup := seen[vKey]; dup {
			t.Errorf("%s: same pool key as %s", name, other)
		}
		seen[vKey] = name
		releaseVerifier(vKey)
		if _, ok := verifiers.References(vKey); ok {
			t.Errorf("%s: still pooled after its last release", name)
		}
	}
}

// TestProvisionSharesAndCleanupReleases: handlers of one key
// configuration, across a reload that provisions the new config before
// cleaning up the old one, hold one pooled verifier; Cleanup gives back
// exactly what Provision took, however often it runs, and a Provision
// that fails takes nothing.
func TestProvisionSharesAndCleanupReleases(t *testing.T) {
	ctx, cancel := configContext(t)
	defer cancel()
	provision := func(m *SoloAuth) *SoloAuth {
		t.Helper()
		if err := m.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		return m
	}
	refs := func(m *SoloAuth) int {
		n, _ := verifiers.References(m.verifierKey)
		return n
	}
	oldA := provision(&SoloAuth{Secrets: []string{tu.SecretA}, Scopes: []string{"admin"}})
	oldB := provision(&SoloAuth{Secrets: []string{tu.SecretA}})
	if oldA.verifier != oldB.verifier || refs(oldA) != 2 {
		t.Fatalf("two lines of one key configuration: shared=%v refs=%d", oldA.verifier == oldB.verifier, refs(oldA))
	}
	key := oldA.verifierKey

	reloaded := provision(&SoloAuth{Secrets: []string{tu.SecretA}, Scopes: []string{"read"}})
	if reloaded.verifier != oldA.verifier || refs(reloaded) != 3 {
		t.Fatal("the reloaded config did not take the running verifier")
	}
	failed := &SoloAuth{Secrets: []string{tu.SecretA}, Leeway: new(caddy.Duration(-1))}
	if err := failed.Provision(ctx); err == nil {
		t.Fatal("a negative leeway was accepted")
	}
	_ = failed.Cleanup()
	for range 2 {
		_ = oldA.Cleanup()
		_ = oldB.Cleanup()
	}
	if n, _ := verifiers.References(key); n != 1 {
		t.Fatalf("%d references after the old config's cleanup, want 1", n)
	}
	_ = reloaded.Cleanup()
	if _, pooled := verifiers.References(key); pooled {
		t.Fatal("the verifier stayed pooled after its last handler's cleanup")
	}
}
