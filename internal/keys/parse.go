package keys

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"sort"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/solo-one/caddy-solo-auth/internal/strictjson"
)

// MinRSABits is the smallest RSA key that is used.
const MinRSABits = 2048

func SortedKIDs(keys map[string]*rsa.PublicKey) []string {
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

// Parse reads a JWK set and keeps only the keys fit to verify RS256:
// RSA public keys of at least 2048 bits, with a kid that no other key in
// the set shares, `use` sig or absent, `alg` RS256 or absent, and
// `key_ops`, if present, allowing verify. Each key is decoded on its own,
// so one key go-jose cannot read does not reject the others. Member names
// are matched exactly, as go-jose matches them (RFC 7517 names are case
// sensitive; encoding/json would not be).
func Parse(body []byte) (map[string]*rsa.PublicKey, []skippedKey, error) {
	rawKeys, err := readJWKSet(body)
	if err != nil {
		return nil, nil, fmt.Errorf("not a JWK set: %w", err)
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
	for _, raw := range rawKeys {
		meta, reason := readJWKMeta(raw)
		kidCount[meta.kid]++
		var key *rsa.PublicKey
		if reason == "" {
			key, reason = usableRSAKey(raw, meta)
		}
		if reason != "" {
			skipped = append(skipped, skippedKey{kid: meta.kid, reason: reason})
			continue
		}
		candidates = append(candidates, candidate{kid: meta.kid, key: key})
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

// readJWKSet returns the members of a JWK set's "keys" array, undecoded.
// The set's own names are matched exactly and may not repeat; what is
// inside each key is left to readJWKMeta and go-jose, key by key.
func readJWKSet(body []byte) ([]json.RawMessage, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(body),
		jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, err
	}
	if tok.Kind() != '{' {
		return nil, strictjson.ErrNotObject
	}
	var keys []json.RawMessage
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		name := tok.String()
		if name != "keys" {
			if err := dec.SkipValue(); err != nil {
				return nil, err
			}
			continue
		}
		if keys != nil {
			return nil, errors.New(`"keys" twice`)
		}
		if dec.PeekKind() != '[' {
			return nil, errors.New(`"keys" is not an array`)
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, err
		}
		keys = []json.RawMessage{}
		for dec.PeekKind() != ']' {
			v, err := dec.ReadValue()
			if err != nil {
				return nil, err
			}
			keys = append(keys, bytes.Clone(v))
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	if keys == nil {
		return nil, errors.New(`no "keys" array`)
	}
	return keys, nil
}

// jwkMeta is what of a JWK, besides its key material, decides whether
// and under which kid the key is used.
type jwkMeta struct {
	kid, use, alg string
	keyOps        []string // nil: no key_ops member
}

// jwkMetaNames are the members jwkMeta reads.
var jwkMetaNames = []string{"kid", "use", "alg", "key_ops"}

// readJWKMeta reads kid, use, alg and key_ops strictly: a member that is
// present must have the type RFC 7517 gives it (null included), no name
// may repeat, and no name may differ from one of these only in case
// (go-jose, like RFC 7517, matches names exactly and would take "Use" for
// an unknown member, where a publisher most likely meant the restriction
// and other JOSE libraries honour it). Whatever is wrong, the key is not
// used; the reason says why. The kid is returned whenever it is a string,
// so that a bad key still counts in the one-key-per-kid rule.
func readJWKMeta(raw []byte) (jwkMeta, string) {
	var m jwkMeta
	obj, err := strictjson.DecodeObject(raw)
	if err != nil {
		// The kid is still counted, read leniently: a key we cannot read
		// may share its kid with one we can, and the contract uses
		// neither then. Reading too much here (KID as kid) fails closed.
		var lenient struct {
			Kid string `json:"kid"`
		}
		_ = json.Unmarshal(raw, &lenient)
		m.kid = lenient.Kid
		return m, "unreadable: " + err.Error()
	}
	if kid, ok := obj["kid"].(string); ok {
		m.kid = kid
	}
	for name := range obj {
		for _, want := range jwkMetaNames {
			if name != want && strings.EqualFold(name, want) {
				return m, fmt.Sprintf("member %q differs from %q only in case", name, want)
			}
		}
	}
	for _, name := range []string{"kid", "use", "alg"} {
		if v, present := obj[name]; present {
			s, ok := v.(string)
			if !ok {
				return m, fmt.Sprintf("%s is not a string (%s)", name, jsonType(v))
			}
			switch name {
			case "use":
				m.use = s
			case "alg":
				m.alg = s
			}
		}
	}
	if v, present := obj["key_ops"]; present {
		ops, ok := v.([]any)
		if !ok {
			return m, fmt.Sprintf("key_ops is not an array (%s)", jsonType(v))
		}
		m.keyOps = make([]string, 0, len(ops))
		for _, op := range ops {
			s, ok := op.(string)
			if !ok {
				return m, fmt.Sprintf("key_ops holds a %s, not only strings", jsonType(op))
			}
			m.keyOps = append(m.keyOps, s)
		}
	}
	return m, ""
}

// jsonType names the JSON type of a value strictjson.DecodeObject built.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "number"
}

// usableRSAKey decodes one JWK and returns its RSA public key, or why it
// cannot be used.
func usableRSAKey(raw json.RawMessage, meta jwkMeta) (*rsa.PublicKey, string) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return nil, "unreadable: " + strings.TrimPrefix(err.Error(), "go-jose/go-jose: ")
	}
	if jwk.KeyID != meta.kid || jwk.Use != meta.use || jwk.Algorithm != meta.alg {
		// Both read names exactly, so this does not happen; if a go-jose
		// upgrade changed that, refuse rather than guess which is right.
		return nil, "go-jose read kid, use or alg differently"
	}
	key, ok := jwk.Key.(*rsa.PublicKey)
	if !ok {
		if _, private := jwk.Key.(*rsa.PrivateKey); private {
			return nil, "contains private key material"
		}
		return nil, fmt.Sprintf("not an RSA public key (%T)", jwk.Key)
	}
	if bits := key.N.BitLen(); bits < MinRSABits {
		return nil, fmt.Sprintf("RSA key of %d bits, under %d", bits, MinRSABits)
	}
	if rocaVulnerable(key.N) {
		return nil, "ROCA-vulnerable modulus (CVE-2017-15361)"
	}
	if meta.use != "" && meta.use != "sig" {
		return nil, "use is " + meta.use
	}
	if meta.alg != "" && meta.alg != string(jose.RS256) {
		return nil, "alg is " + meta.alg
	}
	if meta.keyOps != nil && !slices.Contains(meta.keyOps, "verify") {
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
