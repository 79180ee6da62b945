package soloauth

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// jwksMinRSABits is the smallest RSA key that is used.
const jwksMinRSABits = 2048

func sortedKIDs(keys map[string]*rsa.PublicKey) []string {
	kids := make([]string, 0, len(keys))
	for kid := range keys {
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	return kids
}

// skippedKey is a key of a set that is not used, and why.
type skippedKey struct {
	kid    string
	reason string
}

// parseJWKS reads a JWK set and keeps only the keys fit to verify RS256:
// RSA public keys of at least 2048 bits, with a kid that no other key in
// the set shares, `use` sig or absent, `alg` RS256 or absent, and
// `key_ops`, if present, allowing verify. Each key is decoded on its own,
// so one key go-jose cannot read does not reject the others.
func parseJWKS(body []byte) (map[string]*rsa.PublicKey, []skippedKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, nil, fmt.Errorf("not a JWK set: %w", err)
	}
	if set.Keys == nil {
		return nil, nil, errors.New("not a JWK set: no \"keys\" array")
	}
	type candidate struct {
		kid string
		key *rsa.PublicKey
	}
	var (
		candidates []candidate
		skipped    []skippedKey
		kidCount   = map[string]int{}
	)
	for _, raw := range set.Keys {
		var meta struct {
			Kid    string   `json:"kid"`
			KeyOps []string `json:"key_ops"`
		}
		_ = json.Unmarshal(raw, &meta)
		kidCount[meta.Kid]++
		key, reason := usableRSAKey(raw, meta.KeyOps)
		if reason != "" {
			skipped = append(skipped, skippedKey{kid: meta.Kid, reason: reason})
			continue
		}
		candidates = append(candidates, candidate{kid: meta.Kid, key: key})
	}
	keys := make(map[string]*rsa.PublicKey, len(candidates))
	for _, c := range candidates {
		switch {
		case c.kid == "":
			skipped = append(skipped, skippedKey{reason: "no kid"})
		case kidCount[c.kid] > 1:
			skipped = append(skipped, skippedKey{kid: c.kid, reason: "kid shared with another key"})
		default:
			keys[c.kid] = c.key
		}
	}
	return keys, skipped, nil
}

// usableRSAKey decodes one JWK and returns its RSA public key, or why it
// cannot be used.
func usableRSAKey(raw json.RawMessage, keyOps []string) (*rsa.PublicKey, string) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return nil, "unreadable: " + strings.TrimPrefix(err.Error(), "go-jose/go-jose: ")
	}
	key, ok := jwk.Key.(*rsa.PublicKey)
	if !ok {
		if _, private := jwk.Key.(*rsa.PrivateKey); private {
			return nil, "contains private key material"
		}
		return nil, fmt.Sprintf("not an RSA public key (%T)", jwk.Key)
	}
	if bits := key.N.BitLen(); bits < jwksMinRSABits {
		return nil, fmt.Sprintf("RSA key of %d bits, under %d", bits, jwksMinRSABits)
	}
	if rocaVulnerable(key.N) {
		return nil, "ROCA-vulnerable modulus (CVE-2017-15361)"
	}
	if jwk.Use != "" && jwk.Use != "sig" {
		return nil, "use is " + jwk.Use
	}
	if jwk.Algorithm != "" && jwk.Algorithm != string(jose.RS256) {
		return nil, "alg is " + jwk.Algorithm
	}
	if keyOps != nil && !slices.Contains(keyOps, "verify") {
		return nil, "key_ops does not allow verify"
	}
	return key, ""
}

// rocaPrimes are the small primes of the ROCA fingerprint (Nemec et al.,
// "The Return of Coppersmith's Attack", CCS 2017).
var rocaPrimes = []int64{3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73,
	79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167}

// rocaVulnerable reports whether n has the structure of moduli made by
// the Infineon library of CVE-2017-15361, whose private keys can be
// recovered: n mod p lies in the subgroup that 65537 generates mod p, for
// every fingerprint prime p. A random modulus passes all 38 tests with
// probability about 2^-154.
func rocaVulnerable(n *big.Int) bool {
	var r big.Int
	for _, p := range rocaPrimes {
		residue := r.Mod(n, big.NewInt(p)).Int64()
		if !inSubgroup65537(residue, p) {
			return false
		}
	}
	return true
}

func inSubgroup65537(residue, p int64) bool {
	g := 65537 % p
	x := int64(1)
	for {
		if x == residue {
			return true
		}
		x = x * g % p
		if x == 1 {
			return false
		}
	}
}
