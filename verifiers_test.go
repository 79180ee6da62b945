package soloauth

import (
	"testing"
	"time"
)

// TestVerifierSharedPerKeyConfig: directives of one key configuration get
// one verifier (one cache); a difference in any field that decides a
// token's fate gets another; scopes are not part of it.
func TestVerifierSharedPerKeyConfig(t *testing.T) {
	base := keyConfig{
		secrets:     [][]byte{[]byte(secretA)},
		jwksURL:     "http://127.0.0.1:1/jwks",
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
		"another secret":                 func(k *keyConfig) { k.secrets = [][]byte{[]byte(secretB)} },
		"a second secret":                func(k *keyConfig) { k.secrets = append(k.secrets, []byte(secretB)) },
		"no key set":                     func(k *keyConfig) { k.jwksURL = "" },
		"another issuer":                 func(k *keyConfig) { k.issuers = []string{"https://b"} },
		"issuers split differently":      func(k *keyConfig) { k.issuers = []string{"https:", "//a"} },
		"the audience as an issuer":      func(k *keyConfig) { k.issuers, k.audiences = []string{"https://a", "api"}, nil },
		"no audience":                    func(k *keyConfig) { k.audiences = nil },
		"another scope claim":            func(k *keyConfig) { k.scopeClaims = []string{"scope"} },
		"another leeway":                 func(k *keyConfig) { k.leeway = 0 },
		"secret bytes moved to the URL":  func(k *keyConfig) { k.secrets, k.jwksURL = [][]byte{[]byte(secretA + "x")}, "ttp://127.0.0.1:1/jwks" },
		"an issuer moved to the secrets": func(k *keyConfig) { k.secrets, k.issuers = [][]byte{[]byte(secretA), []byte("https://a")}, nil },
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
