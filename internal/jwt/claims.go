package jwt

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/solo-one/caddy-solo-auth/internal/strictjson"
)

// Largest date accepted in exp, nbf and iat: 9999-12-31T23:59:59Z. A larger
// one is not a date an issuer meant.
// PermissionsClaim is the claim in which SOLO tokens carry their scopes.
const PermissionsClaim = "permissions"

var defaultScopeClaims = []string{PermissionsClaim}

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
	scopesOK      bool   // every scope claim present had the right shape
	sid, jti      string // read for revocations; empty unless a string
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
	return &Identity{Subject: c.sub, Scopes: c.scopes, ExpiresAt: c.exp.t,
		IssuedAt: c.iat.t, HasIssuedAt: c.iat.set, SessionID: c.sid, TokenID: c.jti}, nil
}

func (v *Verifier) checkIssuer(c claimSet) string {
	switch {
	case !c.issSet && len(v.Issuers) > 0:
		return "iss missing"
	case !c.issSet:
		return ""
	case !c.issOK:
		return "iss not a string"
	case len(v.Issuers) > 0 && !issuerAccepted(v.Issuers, c.iss):
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

// The claims a decision reads, each declared once, here: its name
// (decisionClaim), the shape its value is read in (shape) and where it is
// kept (store). Both readers, the fast one and the strict one, ask
// decisionClaim about each member and hand store what they read, so adding
// a claim is an edit here (an ID, its name, its shape, a field of claimSet
// to keep it in) and to checkClaims, which judges it; neither reader
// changes.
type claimID uint8

const (
	notADecisionClaim claimID = iota
	claimSub
	claimExp
	claimNbf
	claimIat
	claimIss
	claimAud
	claimScopes // permissions, or another configured scope claim
	claimSid    // a WorkOS session; revocations match it
	claimJti    // revocations match it
)

// decisionClaim names the claim a member is, if a decision reads it.
func decisionClaim(name []byte, scopeClaims []string) claimID {
	switch string(name) {
	case "sub":
		return claimSub
	case "exp":
		return claimExp
	case "nbf":
		return claimNbf
	case "iat":
		return claimIat
	case "iss":
		return claimIss
	case "aud":
		return claimAud
	case "sid":
		return claimSid
	case "jti":
		return claimJti
	}
	if isScopeClaim(name, scopeClaims) {
		return claimScopes
	}
	return notADecisionClaim
}

func (id claimID) shape() valueShape {
	switch id {
	case claimExp, claimNbf, claimIat:
		return shapeDate
	case claimAud, claimScopes:
		return shapeTextOrTexts
	}
	return shapeText
}

// store keeps a claim's value, as either reader read it.
func (c *claimSet) store(id claimID, name []byte, v memberValue, scopeClaims []string) {
	switch id {
	case claimSub:
		c.sub, c.subOK = v.text, v.ok
	case claimExp:
		c.exp = v.date
	case claimNbf:
		c.nbf = v.date
	case claimIat:
		c.iat = v.date
	case claimIss:
		c.issSet = true
		c.iss, c.issOK = v.text, v.ok
	case claimAud:
		c.audSet = true
		c.aud, c.audOK = v.texts, v.ok
	case claimScopes:
		c.addScopes(string(name), v.texts, v.isArray, v.ok, scopeClaims)
	case claimSid:
		c.sid = v.text // "" unless a string: not a decision's concern otherwise
	case claimJti:
		c.jti = v.text
	}
}

// readClaims decodes a claims set strictly, keeping only what a decision
// reads: on the fast path (flatObject) if the payload is in its subset,
// else on the strict jsontext path. Both give the same claimSet.
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
		if id := decisionClaim(name, scopeClaims); id != notADecisionClaim {
			c.store(id, name, val.read(id.shape()), scopeClaims)
		}
	}
	return c, o.ok()
}

func readClaimsStrict(payload []byte, scopeClaims []string) (claimSet, error) {
	c := claimSet{scopesOK: true}
	err := strictjson.ScanObject(payload, func(name []byte, dec *jsontext.Decoder) error {
		id := decisionClaim(name, scopeClaims)
		if id == notADecisionClaim {
			return strictjson.SkipValue(dec)
		}
		v, err := readMember(dec, id.shape())
		c.store(id, name, v, scopeClaims)
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

// issuerAccepted reports whether iss is one of the accepted issuers, an
// issuer URL with or without one trailing slash counting as the same:
// WorkOS writes https://api.workos.com, and operators copy it with the
// slash (or the other way round). Nothing else is relaxed: the comparison
// stays case-sensitive, as RFC 7519 has it.
func issuerAccepted(accepted []string, iss string) bool {
	bare := strings.TrimSuffix(iss, "/")
	for _, a := range accepted {
		if a == iss || bare != "" && strings.TrimSuffix(a, "/") == bare {
			return true
		}
	}
	return false
}
