package soloauth

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// Largest date accepted in exp, nbf and iat: 9999-12-31T23:59:59Z. A larger
// one is not a date an issuer meant.
const maxNumericDate = 253402300799

// claimSet holds the claims a decision reads, each with whether it was
// present and well-typed. The other claims are checked for well-formedness
// and skipped; Identity.Claims decodes them when a placeholder asks.
type claimSet struct {
	sub           string
	subOK         bool
	exp, nbf, iat dateClaim
	iss           string
	issSet, issOK bool
	aud           []string
	audSet, audOK bool
	scopes        []string
	scopesOK      bool // every scope claim present had the right shape
}

type dateClaim struct {
	set, ok bool
	t       time.Time
}

// checkClaims decodes and validates the claims of a token whose signature
// has been verified.
func (v *Verifier) checkClaims(payload []byte) (*Identity, *VerifyError) {
	c, err := v.readClaims(payload)
	if err != nil {
		return nil, invalid("malformed claims", err)
	}
	if !c.subOK || c.sub == "" {
		return nil, invalid("sub missing or empty", nil)
	}
	fail := func(reason string) *VerifyError {
		return &VerifyError{Kind: KindInvalid, Reason: reason, Subject: c.sub}
	}
	switch {
	case !c.exp.set || !c.exp.ok:
		return nil, fail("exp missing or not a date")
	case c.nbf.set && !c.nbf.ok:
		return nil, fail("nbf not a date")
	case c.iat.set && !c.iat.ok:
		return nil, fail("iat not a date")
	case !c.scopesOK:
		return nil, fail("scope claim not an array of strings")
	}
	if reason := v.checkIssuer(c); reason != "" {
		return nil, fail(reason)
	}
	if reason := v.checkAudience(c); reason != "" {
		return nil, fail(reason)
	}
	t := v.now()
	if !t.Before(c.exp.t.Add(v.Leeway)) { // RFC 7519 §4.1.4: valid only before exp
		return nil, &VerifyError{Kind: KindExpired, Reason: "expired", Subject: c.sub}
	}
	if c.nbf.set && t.Add(v.Leeway).Before(c.nbf.t) {
		return nil, fail("not yet valid (nbf)")
	}
	if c.iat.set && t.Add(v.Leeway).Before(c.iat.t) {
		return nil, fail("issued in the future (iat)")
	}
	return &Identity{Subject: c.sub, Scopes: c.scopes, ExpiresAt: c.exp.t}, nil
}

func (v *Verifier) checkIssuer(c claimSet) string {
	switch {
	case !c.issSet && len(v.Issuers) > 0:
		return "iss missing"
	case !c.issSet:
		return ""
	case !c.issOK:
		return "iss not a string"
	case len(v.Issuers) > 0 && !slices.Contains(v.Issuers, c.iss):
		return "iss not accepted"
	}
	return ""
}

func (v *Verifier) checkAudience(c claimSet) string {
	switch {
	case !c.audSet && len(v.Audiences) > 0:
		return "aud missing"
	case !c.audSet:
		return ""
	case !c.audOK:
		return "aud not a string or an array of strings"
	case len(v.Audiences) == 0:
		return ""
	}
	for _, aud := range c.aud {
		if slices.Contains(v.Audiences, aud) {
			return ""
		}
	}
	return "aud not accepted"
}

// readClaims decodes a claims set strictly, keeping only what a decision
// reads: on the fast path (flatObject) if the payload is in its
// subset, else on the strict jsontext path. Both give the same claimSet.
func (v *Verifier) readClaims(payload []byte) (claimSet, error) {
	scopeClaims := v.ScopeClaims
	if len(scopeClaims) == 0 {
		scopeClaims = defaultScopeClaims
	}
	if c, ok := readClaimsFast(payload, scopeClaims); ok {
		return c, nil
	}
	return readClaimsStrict(bytes.Clone(payload), scopeClaims) // the clone leaves payload's buffer on the stack
}

func readClaimsFast(payload []byte, scopeClaims []string) (claimSet, bool) {
	c := claimSet{scopesOK: true}
	o := newFlatObject(payload)
	for name, val, more := o.next(); more; name, val, more = o.next() {
		switch string(name) {
		case "sub":
			c.sub, c.subOK = val.text()
		case "exp":
			c.exp = val.date()
		case "nbf":
			c.nbf = val.date()
		case "iat":
			c.iat = val.date()
		case "iss":
			c.issSet = true
			c.iss, c.issOK = val.text()
		case "aud":
			c.audSet = true
			c.aud, _, c.audOK = val.textOrTexts()
		default:
			if isScopeClaim(name, scopeClaims) {
				granted, isArray, ok := val.textOrTexts()
				c.addScopes(string(name), granted, isArray, ok, scopeClaims)
			}
		}
	}
	return c, o.ok()
}

func readClaimsStrict(payload []byte, scopeClaims []string) (claimSet, error) {
	c := claimSet{scopesOK: true}
	err := scanStrictObject(payload, func(name []byte, dec *jsontext.Decoder) error {
		var err error
		switch string(name) {
		case "sub":
			c.sub, c.subOK, err = readString(dec)
		case "exp":
			c.exp, err = readDate(dec)
		case "nbf":
			c.nbf, err = readDate(dec)
		case "iat":
			c.iat, err = readDate(dec)
		case "iss":
			c.issSet = true
			c.iss, c.issOK, err = readString(dec)
		case "aud":
			c.audSet = true
			c.aud, _, c.audOK, err = readStringOrStrings(dec)
		default:
			if !isScopeClaim(name, scopeClaims) {
				return skipValue(dec)
			}
			var granted []string
			var isArray, ok bool
			granted, isArray, ok, err = readStringOrStrings(dec)
			c.addScopes(string(name), granted, isArray, ok, scopeClaims)
		}
		return err
	})
	return c, err
}

// isScopeClaim: the permissions claim is always read, to check its shape.
func isScopeClaim(name []byte, scopeClaims []string) bool {
	if string(name) == PermissionsClaim {
		return true
	}
	for _, claim := range scopeClaims { // not slices.Contains: string(name) would allocate
		if string(name) == claim {
			return true
		}
	}
	return false
}

// addScopes takes in a claim that grants scopes. The permissions claim
// must be an array of strings when present (the SOLO API's shape), whether
// or not it is a configured scope claim; any other scope claim may also be
// a space-delimited string (the OAuth "scope" shape).
func (c *claimSet) addScopes(name string, granted []string, isArray, ok bool, scopeClaims []string) {
	switch {
	case !ok || (name == PermissionsClaim && !isArray):
		c.scopesOK = false
	case !isArray:
		granted = strings.Fields(granted[0])
	}
	if ok && slices.Contains(scopeClaims, name) {
		if c.scopes == nil {
			c.scopes = slices.Clip(granted) // nothing else holds it; clipped, so that appending to a shared identity's scopes copies
		} else {
			c.scopes = append(c.scopes, granted...)
		}
	}
}

// readDate reads a NumericDate: a JSON number of seconds since the epoch,
// fractions allowed, between 0 and the year 9999.
func readDate(dec *jsontext.Decoder) (dateClaim, error) {
	if dec.PeekKind() != '0' {
		return dateClaim{set: true}, skipValue(dec)
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return dateClaim{set: true}, err
	}
	return numericDate(tok.Float()), nil
}

// date is readDate on the fast path; jsontext's Token.Float is
// strconv.ParseFloat of the number as written, as this is.
func (v flatValue) date() dateClaim {
	if v.kind != '0' {
		return dateClaim{set: true}
	}
	return numericDate(strconv.ParseFloat(string(v.raw), 64))
}

// numericDate is the date of a parsed number, if it is one we accept.
func numericDate(f float64, err error) dateClaim {
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return dateClaim{set: true}
	}
	sec, frac := math.Modf(f)
	return dateClaim{set: true, ok: true, t: time.Unix(int64(sec), int64(frac*1e9))}
}

// readStringOrStrings reads a string or an array of strings; ok is false
// for any other value (which is consumed all the same).
func readStringOrStrings(dec *jsontext.Decoder) (values []string, isArray, ok bool, err error) {
	switch dec.PeekKind() {
	case '"':
		s, _, err := readString(dec)
		return []string{s}, false, err == nil, err
	case '[':
		values, ok, err = readStrings(dec)
		return values, true, ok, err
	}
	return nil, false, false, skipValue(dec)
}

// readStrings reads an array of strings; ok is false for any other value.
func readStrings(dec *jsontext.Decoder) (values []string, ok bool, err error) {
	if dec.PeekKind() != '[' {
		return nil, false, skipValue(dec)
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, false, err
	}
	ok = true
	values = []string{}
	for dec.PeekKind() != ']' {
		if dec.PeekKind() != '"' {
			ok = false
			if err := skipValue(dec); err != nil {
				return nil, false, err
			}
			continue
		}
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, false, err
		}
		values = append(values, tok.String())
	}
	if _, err := dec.ReadToken(); err != nil { // the closing ']'
		return nil, false, err
	}
	return values, ok, nil
}
