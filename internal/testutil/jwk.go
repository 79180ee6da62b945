package testutil

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// JWK is key as a JWK set publishes it (go-jose's encoding) under kid,
// with extra members added or replaced.
func JWK(t testing.TB, key any, kid string, extra map[string]any) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: kid})
	if err != nil {
		t.Fatal(err)
	}
	if len(extra) == 0 {
		return string(b)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for k, v := range extra {
		m[k] = v
	}
	b, _ = json.Marshal(m)
	return string(b)
}

// JWKS is a JWK set of the given JWKs.
func JWKS(keys ...string) string { return `{"keys":[` + strings.Join(keys, ",") + `]}` }
