package keys

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// redactedPart stands in for the parts of a JWKS URL that may carry a
// credential wherever the URL is shown (logs, errors, the admin API,
// metric labels): the userinfo and the query. The fragment, never sent,
// is dropped. So https://user:pass@idp/jwks?token=t shows as
// https://xxxxx@idp/jwks?xxxxx, and a URL with neither shows as written.
const redactedPart = "xxxxx"

// RedactURL is raw as it may be shown. The full URL is used only to fetch
// and to name the saved copy in storage.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if u.User != nil {
		u.User = url.User(redactedPart)
	}
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery, u.ForceQuery = redactedPart, false
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// plainHTTPOffLoopback reports whether raw is an http:// URL to a host
// other than loopback (127.0.0.0/8, ::1, localhost): keys fetched that way
// can be replaced by anyone on the path.
func plainHTTPOffLoopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "http") {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// errRedirect stops the JWKS client at a redirect: a JWK set is taken
// only from the URL configured, never from where an endpoint (or whoever
// answers for it) sends the client, https to http included.
var errRedirect = errors.New("redirect not followed")

func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// noRedirects returns a copy of c (a new client if nil) that does not
// follow redirects.
func noRedirects(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	} else {
		out.Timeout = jwksFetchTimeout
	}
	out.CheckRedirect = refuseRedirect
	return &out
}
