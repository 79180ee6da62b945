package soloauth

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Token extraction: the Authorization header always, and, where a
// directive names them, a query parameter and a cookie (token_query,
// token_cookie). Those two are honoured on GET and HEAD only, so a cookie
// can never authenticate a cross-site POST; and they are removed from the
// request on every method, so a token there never reaches a backend.

// Where a token was found, as {solo.token_source} reports it.
const (
	fromHeader = "header"
	fromQuery  = "query"
	fromCookie = "cookie"
)

type tokenProblem int

const (
	tokenPresent tokenProblem = iota
	tokenMissing              // no bearer token in any place the route reads
	tokenInvalid              // in two places, given twice, or malformed
)

// foundToken is what a request carries, once every place is read.
type foundToken struct {
	token   string
	from    string       // fromHeader, fromQuery or fromCookie; empty if none
	problem tokenProblem // tokenMissing until a token is found
	reason  string       // why tokenInvalid, for the log
}

// takeToken finds the request's token in the header and in the places
// named, removing the query parameter and the cookie from r whatever the
// method. query and cookie are empty where the directive names none.
func (st *requestAuth) takeToken(r *http.Request, query, cookie string) foundToken {
	var f foundToken
	f.problem = tokenMissing
	token, problem := bearerToken(r.Header)
	switch problem {
	case tokenInvalid:
		f.refuse("more than one Authorization header")
	case tokenPresent:
		f.token, f.from, f.problem = token, fromHeader, tokenPresent
	}
	honoured := r.Method == http.MethodGet || r.Method == http.MethodHead
	if query != "" {
		place, ok := st.takenBefore(fromQuery, query)
		if !ok {
			place.values, place.malformed = removeQueryParam(r, query)
			st.remember(place)
		}
		if honoured {
			f.add(fromQuery, place.values, place.malformed)
		}
	}
	if cookie != "" {
		place, ok := st.takenBefore(fromCookie, cookie)
		if !ok {
			place.values = removeCookie(r.Header, cookie)
			st.remember(place)
		}
		if honoured {
			f.add(fromCookie, place.values, false)
		}
	}
	return f
}

// takenPlace is what a solo_auth line removed from the request: the
// values of a query parameter or cookie.
type takenPlace struct {
	from, name string
	values     []string
	malformed  bool
}

// takenBefore returns what an earlier solo_auth line of the request took
// from the place, if one did. A place is removed from the request once; a
// later line that reads the same place (the global option's token_query,
// say) must find what the first one took, since the request no longer has
// it. Otherwise it returns the place, empty, for the caller to fill.
func (st *requestAuth) takenBefore(from, name string) (takenPlace, bool) {
	for _, p := range st.taken {
		if p.from == from && p.name == name {
			return p, true
		}
	}
	return takenPlace{from: from, name: name}, false
}

// remember keeps what was removed from the request. A place that held
// nothing is not kept: looking again finds nothing again, and most
// requests carry their token in the header.
func (st *requestAuth) remember(p takenPlace) {
	if p.values != nil {
		st.taken = append(st.taken, p)
	}
}

// add takes in the values a place held. A place given twice, or a
// second place with a token, makes the request's token invalid, whatever
// the values: parameter pollution is how a gateway and a backend come to
// read different tokens. An empty value is no token.
func (f *foundToken) add(from string, values []string, malformed bool) {
	switch {
	case f.problem == tokenInvalid || len(values) == 0:
	case len(values) > 1:
		f.refuse("token " + from + " given more than once")
	case malformed:
		f.refuse("token " + from + " not valid percent-encoding")
	case values[0] == "":
	case f.problem == tokenPresent:
		f.refuse("token in the " + f.from + " and in the " + from)
	default:
		f.token, f.from, f.problem = values[0], from, tokenPresent
	}
}

// refuse makes the request's token invalid, keeping no token.
func (f *foundToken) refuse(reason string) {
	*f = foundToken{problem: tokenInvalid, reason: reason}
}

// bearerToken reads the token of `Authorization: Bearer <token>`, with the
// scheme matched case-insensitively (RFC 7235 §2.1). The token is returned
// as sent, surrounding spaces aside: the verifier refuses anything that is
// not a compact JWS, so nothing is cleaned up here.
func bearerToken(h http.Header) (string, tokenProblem) {
	values := h["Authorization"]
	switch len(values) {
	case 0:
		return "", tokenMissing
	case 1:
	default:
		return "", tokenInvalid
	}
	scheme, rest, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", tokenMissing
	}
	token := strings.Trim(rest, " ")
	if token == "" {
		return "", tokenMissing
	}
	return token, tokenPresent
}

// removeQueryParam removes every occurrence of the parameter from r's URL
// and RequestURI, which later handlers and placeholders read, and from the
// copy of the request as it arrived that Caddy keeps in its context, and
// returns the values it had, percent-decoded; malformed is true if one was
// not valid percent-encoding. The copy is stripped even when the current
// URL no longer has the parameter: a rewrite before solo_auth may have
// taken it from the URL but not from the request as it arrived.
func removeQueryParam(r *http.Request, name string) (values []string, malformed bool) {
	raw := r.URL.RawQuery
	kept, values, malformed := withoutParam(raw, name)
	// The copies of the query are almost always the same string: scan
	// it once.
	strip := func(query string) string {
		if query == raw {
			return kept
		}
		k, _, _ := withoutParam(query, name)
		return k
	}
	uri := r.RequestURI
	if values != nil {
		r.URL.RawQuery = kept
		r.RequestURI = uriWithout(uri, strip)
	}
	stripOriginal(r, uri, strip)
	return values, malformed
}

// stripOriginal strips the parameter from the request as it arrived.
// Caddy reads that copy for {http.request.orig_uri}, for the FastCGI
// transport's REQUEST_URI, and to restore the request before handle_errors
// routes run. Its URL is a pointer that every copy of that request shares:
// stripped in place, it is clean wherever it is read. Its RequestURI is a
// string in the copy held by the context, so the context gets a new copy,
// and r is replaced in place rather than passed on anew, since the server
// and the replacer hold this pointer. (A handler before solo_auth that
// passes on a new request, as Caddy's tracing does, keeps the old context
// out of our reach; its orig_uri keeps the parameter, its URL does not.)
// uri is r's RequestURI before it was stripped; nothing is copied unless
// the parameter is there.
func stripOriginal(r *http.Request, uri string, strip func(query string) string) {
	orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request)
	if !ok {
		return
	}
	origURI := orig.RequestURI
	if origURI == uri {
		origURI = r.RequestURI
	} else {
		origURI = uriWithout(origURI, strip)
	}
	var origQuery string
	if orig.URL != nil {
		origQuery = strip(orig.URL.RawQuery)
	}
	if origURI == orig.RequestURI && (orig.URL == nil || origQuery == orig.URL.RawQuery) {
		return // no parameter in the copy
	}
	if orig.URL != nil {
		orig.URL.RawQuery = origQuery
	}
	orig.RequestURI = origURI
	*r = *r.WithContext(context.WithValue(r.Context(), caddyhttp.OriginalRequestCtxKey, orig))
}

// uriWithout is a request URI with its query stripped; a query left
// empty loses its "?".
func uriWithout(uri string, strip func(query string) string) string {
	path, query, ok := strings.Cut(uri, "?")
	if !ok {
		return uri
	}
	kept := strip(query)
	if kept == query {
		return uri // nothing stripped: no new string
	}
	if kept != "" {
		return path + "?" + kept
	}
	return path
}

// withoutParam is rawQuery without the parameter name (matched on its
// percent-decoded name, exactly), and the values it had. The other
// parameters are kept byte for byte, in order, separators included.
func withoutParam(rawQuery, name string) (kept string, values []string, malformed bool) {
	if rawQuery == "" || (!strings.Contains(rawQuery, name) && !strings.Contains(rawQuery, "%")) {
		return rawQuery, nil, false
	}
	var b strings.Builder
	b.Grow(len(rawQuery))
	first := true
	for rest := rawQuery; ; {
		pair, next, more := strings.Cut(rest, "&")
		key, value, _ := strings.Cut(pair, "=")
		if decoded, err := url.QueryUnescape(key); err == nil && decoded == name {
			v, err := url.QueryUnescape(value)
			malformed = malformed || err != nil
			values = append(values, v)
		} else {
			if !first {
				b.WriteByte('&')
			}
			b.WriteString(pair)
			first = false
		}
		if !more {
			break
		}
		rest = next
	}
	if values == nil {
		return rawQuery, nil, false
	}
	return b.String(), values, malformed
}

// removeCookie removes every cookie of the name from the Cookie header
// lines (HTTP/2 may send several) and returns their values. A line left
// empty is dropped. Other cookies are kept as sent, in order.
func removeCookie(h http.Header, name string) (values []string) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return nil
	}
	keptLines := lines[:0:0]
	for _, line := range lines {
		kept, found := withoutCookie(line, name)
		values = append(values, found...)
		if kept != "" {
			keptLines = append(keptLines, kept)
		}
	}
	if values == nil {
		return nil
	}
	if len(keptLines) == 0 {
		delete(h, "Cookie")
	} else {
		h["Cookie"] = keptLines
	}
	return values
}

// withoutCookie is a Cookie header line without the cookies of the name
// (RFC 6265 §5.4: pairs separated by "; "), and their values, unquoted.
// Pairs it cannot read are kept as they are: they are not ours.
func withoutCookie(line, name string) (kept string, values []string) {
	if !strings.Contains(line, name) {
		return line, nil
	}
	var b strings.Builder
	for rest := line; ; {
		pair, next, more := strings.Cut(rest, ";")
		key, value, _ := strings.Cut(strings.TrimSpace(pair), "=")
		if strings.TrimSpace(key) == name {
			value = strings.TrimSpace(value)
			if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			values = append(values, value)
		} else {
			if b.Len() > 0 {
				b.WriteByte(';')
			}
			b.WriteString(pair)
		}
		if !more {
			break
		}
		rest = next
	}
	if values == nil {
		return line, nil
	}
	return strings.TrimLeft(b.String(), " \t"), values
}
