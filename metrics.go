package soloauth

import (
	"errors"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/keys"
)

// Outcomes of a request, as the requests metric labels them.
const (
	outcomeOK          = "ok"
	outcomeMissing     = "missing"
	outcomeInvalid     = "invalid"
	outcomeExpired     = "expired"
	outcomeForbidden   = "forbidden"
	outcomeUnavailable = "unavailable"
	outcomeAnonymous   = "anonymous" // optional: no token, passed
	outcomeRevoked     = "revoked"   // a valid token that a revocation refuses
)

// The collectors live for the process, so that counts survive config
// reloads; each config's registry (what the admin /metrics endpoint
// serves) gets them registered. Labels are low-cardinality by design: no
// subject, token, kid or request path (the JWKS metrics carry the JWKS URL,
// one per key set).
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "solo_auth",
		Name:      "requests_total",
		Help:      "Requests decided by solo_auth, by outcome (ok, anonymous, missing, invalid, expired, revoked, forbidden, unavailable) and token type (sdk, workos, none).",
	}, []string{"outcome", "token_type"})
	jwksFetchesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "solo_auth",
		Name:      "jwks_fetches_total",
		Help:      "JWKS fetches by URL (userinfo and query shown as xxxxx) and outcome (ok, failed).",
	}, []string{"url", "outcome"})
	cacheTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "solo_auth",
		Name:      "cache_total",
		Help:      "Verified-token cache lookups by result (hit, miss).",
	}, []string{"result"})
	revocationReadFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "solo_auth",
		Name:      "revocation_storage_failures_total",
		Help:      "Failed reads of the revocations in storage (the entries known are kept).",
	})
	revocationsInForce = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy",
		Subsystem: "solo_auth",
		Name:      "revocations",
		Help:      "Revocations in force on this instance.",
	}, func() float64 { return float64(revocations.Count()) })
	keySetAgeDesc = prometheus.NewDesc("caddy_solo_auth_jwks_age_seconds",
		"Seconds since the key set in use for a JWKS URL was fetched (from the saved copy's fetch time when loaded from storage; since it was read for a jwks_file, url file://<path>).",
		[]string{"url", "source"}, nil)

	cacheHits   = cacheTotal.WithLabelValues("hit")
	cacheMisses = cacheTotal.WithLabelValues("miss")
)

// keySetCollector reports the age of every key set in use.
type keySetCollector struct{}

func (keySetCollector) Describe(ch chan<- *prometheus.Desc) { ch <- keySetAgeDesc }

// The url label is the URL as shown (credentials redacted); two URLs
// that differ only in credentials show alike, and report the older age.
func (keySetCollector) Collect(ch chan<- prometheus.Metric) {
	ages := map[[2]string]float64{}
	add := func(st keys.Status) {
		if st.Source != "" { // loaded
			labels := [2]string{st.URL, st.Source}
			ages[labels] = max(ages[labels], time.Since(st.LastFetch).Seconds())
		}
	}
	keySets.Range(func(_, value any) bool { add(value.(*keys.Set).Status()); return true })
	fileSets.Range(func(_, value any) bool { add(value.(*keys.File).Status()); return true })
	for labels, age := range ages {
		ch <- prometheus.MustNewConstMetric(keySetAgeDesc, prometheus.GaugeValue, age, labels[0], labels[1])
	}
}

// registerMetrics adds the collectors to the config's registry, once.
func registerMetrics(ctx caddy.Context) error {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{requestsTotal, jwksFetchesTotal, cacheTotal, keySetCollector{},
		revocationReadFailures, revocationsInForce} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}

// outcomeOf names a refusal for the requests metric.
func outcomeOf(refusal *response) string {
	switch refusal {
	case &respMissing:
		return outcomeMissing
	case &respExpired:
		return outcomeExpired
	case &respUnavailable:
		return outcomeUnavailable
	case &respInvalid:
		return outcomeInvalid
	case &respRevoked:
		return outcomeRevoked
	}
	return outcomeForbidden
}

func observeCache(hit bool) {
	if hit {
		cacheHits.Inc()
	} else {
		cacheMisses.Inc()
	}
}

// requestCounters are the requests metric's children, looked up once.
var requestCounters = func() map[[2]string]prometheus.Counter {
	m := map[[2]string]prometheus.Counter{}
	for _, o := range []string{outcomeOK, outcomeAnonymous, outcomeMissing, outcomeInvalid, outcomeExpired, outcomeForbidden, outcomeUnavailable, outcomeRevoked} {
		for _, tt := range []string{jwt.TokenTypeSDK, jwt.TokenTypeWorkOS, "none"} {
			m[[2]string{o, tt}] = requestsTotal.WithLabelValues(o, tt)
		}
	}
	return m
}()

func countRequest(outcome, tokenType string) {
	if tokenType == "" {
		tokenType = "none"
	}
	requestCounters[[2]string{outcome, tokenType}].Inc()
}

// countJWKSFetch counts a key set's fetch by URL (as shown) and outcome.
func countJWKSFetch(shownURL string, ok bool) {
	outcome := "failed"
	if ok {
		outcome = "ok"
	}
	jwksFetchesTotal.WithLabelValues(shownURL, outcome).Inc()
}
