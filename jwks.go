package soloauth

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Limits of a JWKS fetch; past any of them the fetch has failed and the
// last good key set stays in use.
const (
	jwksMaxBody      = 1 << 20
	jwksFetchTimeout = 10 * time.Second
	// jwksSavedMaxAge is how old a saved key set may be and still be used
	// at start-up while the endpoint cannot be reached.
	jwksSavedMaxAge = 7 * 24 * time.Hour
	// Retry schedule while a fetch keeps failing: doubling from the first
	// delay up to the cap, each delay jittered by ±20%.
	jwksRetryFirst = time.Second
	jwksRetryCap   = 60 * time.Second
	// jwksStorageTimeout bounds reading or writing the saved key set, so
	// that a slow storage module cannot hold start-up long.
	jwksStorageTimeout = 3 * time.Second
	// jwksMinRefresh is the shortest jwks_refresh accepted.
	jwksMinRefresh = time.Second
	// jwksMinRSABits is the smallest RSA key that is used.
	jwksMinRSABits = 2048
)

// jwksMinInterval is the least time between two fetches that tokens with
// unknown kids can cause, per URL, whatever the traffic. A variable only so
// that the integration tests' Caddy (built with the soloauth_testhooks
// tag) can shorten it; nothing else changes it.
var jwksMinInterval = 30 * time.Second

// Where a key set in use came from.
const (
	sourceFetch   = "fetch"
	sourceStorage = "storage"
)

// keyStore keeps the last good key set of each URL; certmagic.Storage,
// which Caddy's ctx.Storage() returns, is one.
type keyStore interface {
	Load(ctx context.Context, key string) ([]byte, error)
	Store(ctx context.Context, key string, value []byte) error
}

// clock is time, made replaceable so that tests of the rate limit and the
// retry schedule are fast and exact.
type clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// keyTable is one loaded key set. It is never changed once published.
type keyTable struct {
	keys      map[string]*rsa.PublicKey
	fetchedAt time.Time
	source    string
}

// fetchCall is one fetch in flight; every caller that wants a fetch while
// it runs waits for this one instead of starting another.
type fetchCall struct {
	done chan struct{}
	err  error
}

// KeySet holds the RSA keys published at one JWKS URL: fetched at start,
// refreshed on a schedule and on demand for unknown kids (rate-limited),
// kept through failed refreshes, and saved so that a restart during an
// outage of the endpoint still verifies. It is safe for concurrent use.
type KeySet struct {
	url     string
	client  *http.Client
	clock   clock
	refresh atomic.Int64 // time.Duration between scheduled fetches
	logger  atomic.Pointer[zap.Logger]

	table atomic.Pointer[keyTable]

	mu          sync.Mutex
	store       keyStore              // nil: nothing is saved
	refreshes   map[time.Duration]int // jwks_refresh of each handler using the set
	inflight    *fetchCall
	lastAttempt time.Time // start of the last fetch of any kind
	lastError   string
	nextAttempt time.Time     // when the background loop fetches next
	wake        chan struct{} // a fetch finished
	reschedule  chan struct{} // the refresh interval changed

	ctx      context.Context // cancelled by Destruct; ends a fetch in flight
	cancel   context.CancelFunc
	started  atomic.Bool
	stopOnce sync.Once
	stopped  chan struct{}
	fetches  sync.WaitGroup // fetch goroutines, waited for by Destruct
}

// keySetConfig is what a KeySet is built from.
type keySetConfig struct {
	URL     string
	Refresh time.Duration
	Store   keyStore
	Logger  *zap.Logger
	Client  *http.Client // nil: a client with the fetch timeout
	Clock   clock        // nil: real time
}

// newKeySet makes a key set; start begins fetching.
func newKeySet(cfg keySetConfig) *KeySet {
	ks := &KeySet{
		url:        cfg.URL,
		client:     cfg.Client,
		clock:      cfg.Clock,
		store:      cfg.Store,
		refreshes:  map[time.Duration]int{},
		wake:       make(chan struct{}, 1),
		reschedule: make(chan struct{}, 1),
		stopped:    make(chan struct{}),
	}
	ks.ctx, ks.cancel = context.WithCancel(context.Background())
	if ks.client == nil {
		ks.client = &http.Client{Timeout: jwksFetchTimeout}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	ks.logger.Store(logger)
	if ks.clock == nil {
		ks.clock = realClock{}
	}
	ks.addUser(cfg.Refresh, cfg.Store, nil)
	return ks
}

func (ks *KeySet) log() *zap.Logger { return ks.logger.Load() }

// addUser records a handler that uses the set: its refresh interval
// counts towards the schedule (the shortest wins), and the newest config's
// storage and logger replace older ones, which may be going away.
func (ks *KeySet) addUser(refresh time.Duration, store keyStore, logger *zap.Logger) {
	ks.mu.Lock()
	ks.refreshes[refresh]++
	if store != nil {
		ks.store = store
	}
	ks.mu.Unlock()
	if logger != nil {
		ks.logger.Store(logger)
	}
	ks.updateRefresh()
}

// removeUser forgets a handler's refresh interval.
func (ks *KeySet) removeUser(refresh time.Duration) {
	ks.mu.Lock()
	if ks.refreshes[refresh]--; ks.refreshes[refresh] <= 0 {
		delete(ks.refreshes, refresh)
	}
	ks.mu.Unlock()
	ks.updateRefresh()
}

func (ks *KeySet) updateRefresh() {
	ks.mu.Lock()
	shortest := time.Duration(0)
	for d := range ks.refreshes {
		if shortest == 0 || d < shortest {
			shortest = d
		}
	}
	ks.mu.Unlock()
	if shortest == 0 || ks.refresh.Swap(int64(shortest)) == int64(shortest) {
		return
	}
	select {
	case ks.reschedule <- struct{}{}:
	default:
	}
}

func (ks *KeySet) storage() keyStore {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.store
}

// start fetches the key set, waiting at most wait for the first answer,
// and keeps it fresh in the background until Destruct. If no key set could
// be fetched within wait, a saved one is used while the fetch is retried.
func (ks *KeySet) start(wait time.Duration) {
	call := ks.fetch()
	ks.started.Store(true)
	go ks.run()
	select {
	case <-call.done:
	case <-time.After(wait):
		ks.log().Warn("jwks: first fetch still running; start-up goes on without it",
			zap.String("url", ks.url), zap.Duration("waited", wait))
	}
	if ks.table.Load() == nil {
		ks.loadSaved()
	}
}

// Destruct stops the background fetching; the UsagePool calls it when no
// config uses this URL any more.
func (ks *KeySet) Destruct() error {
	ks.stopOnce.Do(ks.cancel)
	if ks.started.Load() {
		<-ks.stopped
	}
	ks.fetches.Wait()
	return nil
}

// RSAKey returns the key published under kid. A known kid never waits.
// An unknown kid triggers a fetch unless one ran in the last 30 seconds,
// waits for it (or for the fetch already running) while ctx lasts, and
// looks again.
func (ks *KeySet) RSAKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	t := ks.table.Load()
	if t == nil {
		return nil, ErrKeysUnavailable
	}
	if key, ok := t.keys[kid]; ok {
		return key, nil
	}
	call := ks.fetchUnlessRecent()
	if call == nil {
		return nil, ErrUnknownKeyID
	}
	select {
	case <-call.done:
	case <-ctx.Done():
		// The client is gone; the fetch goes on for the next request.
		return nil, ErrUnknownKeyID
	}
	if key, ok := ks.table.Load().keys[kid]; ok {
		return key, nil
	}
	return nil, ErrUnknownKeyID
}

// CurrentKey returns the key of kid in the set now in use, without ever
// fetching; the token cache asks it on every hit for an RS256 token.
func (ks *KeySet) CurrentKey(kid string) *rsa.PublicKey {
	if t := ks.table.Load(); t != nil {
		return t.keys[kid]
	}
	return nil
}

// RetryAfter is how many seconds a client refused for want of keys should
// wait: until the next background attempt, between 1 and 60.
func (ks *KeySet) RetryAfter() int {
	ks.mu.Lock()
	next := ks.nextAttempt
	ks.mu.Unlock()
	secs := int(next.Sub(ks.clock.Now()).Seconds() + 0.999)
	return min(max(secs, 1), 60)
}

// fetchUnlessRecent joins the fetch in flight, or starts one if none has
// started in the last jwksMinInterval; nil means neither.
func (ks *KeySet) fetchUnlessRecent() *fetchCall {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.inflight != nil {
		return ks.inflight
	}
	if !ks.lastAttempt.IsZero() && ks.clock.Now().Sub(ks.lastAttempt) < jwksMinInterval {
		return nil
	}
	return ks.startFetchLocked()
}

// fetch joins the fetch in flight or starts one.
func (ks *KeySet) fetch() *fetchCall {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.inflight != nil {
		return ks.inflight
	}
	return ks.startFetchLocked()
}

func (ks *KeySet) startFetchLocked() *fetchCall {
	call := &fetchCall{done: make(chan struct{})}
	ks.inflight = call
	ks.lastAttempt = ks.clock.Now()
	ks.fetches.Add(1)
	go func() {
		defer ks.fetches.Done()
		call.err = ks.fetchAndSwap()
		ks.mu.Lock()
		ks.inflight = nil
		switch {
		case ks.ctx.Err() != nil: // stopped, not a failure of the endpoint
		case call.err != nil:
			ks.lastError = call.err.Error()
		default:
			ks.lastError = ""
		}
		ks.mu.Unlock()
		// Wake the background loop to reschedule, before done is closed,
		// so that the loop, if it was the one waiting on done, finds
		// this wake-up and drains it.
		select {
		case ks.wake <- struct{}{}:
		default:
		}
		close(call.done)
	}()
	return call
}

// run is the background loop: scheduled refreshes while a fetched set is
// in use, retries with capped, jittered backoff while none is.
func (ks *KeySet) run() {
	defer close(ks.stopped)
	failures := 0
	for {
		var wait time.Duration
		t := ks.table.Load()
		switch {
		case t != nil && t.source == sourceFetch && failures == 0:
			wait = time.Duration(ks.refresh.Load()) - ks.clock.Now().Sub(t.fetchedAt)
		case t != nil && t.source == sourceFetch:
			// A fetched set is in use and a fetch failed (perhaps one an
			// unknown kid asked for): retry no sooner than the unknown-kid
			// limit, so that such tokens cannot make the set fetch more
			// often than that; and no later than the schedule.
			wait = min(max(retryDelay(failures), jwksMinInterval), time.Duration(ks.refresh.Load()))
		default:
			// No set, or only the saved one: retry with backoff.
			wait = retryDelay(failures)
		}
		wait = max(wait, 0)
		ks.mu.Lock()
		ks.nextAttempt = ks.clock.Now().Add(wait)
		ks.mu.Unlock()

		select {
		case <-ks.ctx.Done():
			return
		case <-ks.reschedule:
			continue
		case <-ks.wake:
			// A fetch finished (perhaps one a request asked for): look
			// at the schedule again.
			if ks.lastFetchFailed() {
				failures++
			} else {
				failures = 0
			}
			continue
		case <-ks.clock.After(wait):
		}
		call := ks.fetch()
		select {
		case <-ks.ctx.Done():
			return
		case <-call.done:
		}
		// Drain the wake-up this fetch sent, then count it.
		select {
		case <-ks.wake:
		default:
		}
		if call.err != nil {
			failures++
		} else {
			failures = 0
		}
	}
}

func (ks *KeySet) lastFetchFailed() bool {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.lastError != ""
}

// retryDelay is the wait after n failed fetches: 1s, 2s, 4s ... up to a
// minute, each ±20% so that a fleet of gateways does not retry in step.
func retryDelay(failures int) time.Duration {
	d := jwksRetryFirst
	for i := 1; i < failures && d < jwksRetryCap; i++ {
		d *= 2
	}
	d = min(d, jwksRetryCap)
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// fetchAndSwap fetches the key set once and, if it is good, puts it in use
// and saves it. A failed fetch changes nothing but the last error.
func (ks *KeySet) fetchAndSwap() error {
	body, err := ks.download()
	if err == nil {
		var keys map[string]*rsa.PublicKey
		keys, err = ks.parse(body)
		if err == nil {
			ks.use(&keyTable{keys: keys, fetchedAt: ks.clock.Now(), source: sourceFetch})
			ks.save(body)
			jwksFetchesTotal.WithLabelValues(ks.url, "ok").Inc()
			return nil
		}
	}
	err = fmt.Errorf("jwks %s: %w", ks.url, err)
	if ks.ctx.Err() != nil {
		return err // stopped: not a failure of the endpoint
	}
	jwksFetchesTotal.WithLabelValues(ks.url, "failed").Inc()
	ks.log().Warn("jwks: fetch failed; keeping the last good key set",
		zap.String("url", ks.url), zap.Bool("have_keys", ks.table.Load() != nil), zap.Error(err))
	return err
}

func (ks *KeySet) download() ([]byte, error) {
	ctx, cancel := context.WithTimeout(ks.ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if len(body) > jwksMaxBody {
		return nil, fmt.Errorf("body over %d bytes", jwksMaxBody)
	}
	return body, nil
}

func (ks *KeySet) parse(body []byte) (map[string]*rsa.PublicKey, error) {
	keys, skipped, err := parseJWKS(body)
	for _, s := range skipped {
		if ce := ks.log().Check(zapcore.InfoLevel, "jwks: key skipped"); ce != nil {
			ce.Write(zap.String("url", ks.url), zap.String("kid", s.kid), zap.String("reason", s.reason))
		}
	}
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no usable key (%d skipped)", len(skipped))
	}
	return keys, nil
}

// use puts a table in use and logs what changed. A key that is unchanged
// keeps its old object, so that cached tokens it verified stay valid.
func (ks *KeySet) use(t *keyTable) {
	if prev := ks.table.Load(); prev != nil {
		for kid, key := range t.keys {
			if old, ok := prev.keys[kid]; ok && old.Equal(key) {
				t.keys[kid] = old
			}
		}
	}
	old := ks.table.Swap(t)
	var before map[string]*rsa.PublicKey
	if old != nil {
		before = old.keys
	}
	added, removed := diffKIDs(before, t.keys)
	if len(added) == 0 && len(removed) == 0 && old != nil && old.source == t.source {
		if ce := ks.log().Check(zapcore.DebugLevel, "jwks: key set unchanged"); ce != nil {
			ce.Write(zap.String("url", ks.url), zap.Int("keys", len(t.keys)))
		}
		return
	}
	ks.log().Info("jwks: key set in use",
		zap.String("url", ks.url), zap.String("source", t.source),
		zap.Time("fetched_at", t.fetchedAt), zap.Int("keys", len(t.keys)),
		zap.Strings("added_kids", added), zap.Strings("removed_kids", removed))
}

func diffKIDs(before, after map[string]*rsa.PublicKey) (added, removed []string) {
	for kid := range after {
		if _, ok := before[kid]; !ok {
			added = append(added, kid)
		}
	}
	for kid := range before {
		if _, ok := after[kid]; !ok {
			removed = append(removed, kid)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}

// savedKeySet is what is written to storage for a URL.
type savedKeySet struct {
	URL       string          `json:"url"`
	FetchedAt time.Time       `json:"fetched_at"`
	JWKS      json.RawMessage `json:"jwks"`
}

// storageKey names a URL's saved key set; hashed, since URLs are not
// valid storage keys.
func storageKey(url string) string {
	sum := sha256.Sum256([]byte(url))
	return "solo_auth/jwks/" + hex.EncodeToString(sum[:16]) + ".json"
}

func (ks *KeySet) save(body []byte) {
	store := ks.storage()
	if store == nil {
		return
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return // parse accepted it, so this does not happen
	}
	data, err := json.Marshal(savedKeySet{URL: ks.url, FetchedAt: ks.clock.Now().UTC(), JWKS: compact.Bytes()})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ks.ctx, jwksStorageTimeout)
	defer cancel()
	if err := store.Store(ctx, storageKey(ks.url), data); err != nil {
		ks.log().Warn("jwks: could not save the key set", zap.String("url", ks.url), zap.Error(err))
	}
}

// loadSaved puts the saved key set in use if none is, and it is recent.
func (ks *KeySet) loadSaved() {
	store := ks.storage()
	if store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ks.ctx, jwksStorageTimeout)
	defer cancel()
	data, err := store.Load(ctx, storageKey(ks.url))
	if err != nil {
		ks.log().Debug("jwks: no saved key set", zap.String("url", ks.url), zap.Error(err))
		return
	}
	var saved savedKeySet
	if err := json.Unmarshal(data, &saved); err != nil || saved.URL != ks.url {
		ks.log().Warn("jwks: saved key set unreadable; ignored", zap.String("url", ks.url))
		return
	}
	age := ks.clock.Now().Sub(saved.FetchedAt)
	if age > jwksSavedMaxAge {
		ks.log().Warn("jwks: saved key set too old; ignored",
			zap.String("url", ks.url), zap.Time("fetched_at", saved.FetchedAt))
		return
	}
	keys, err := ks.parse(saved.JWKS)
	if err != nil {
		ks.log().Warn("jwks: saved key set unusable; ignored", zap.String("url", ks.url), zap.Error(err))
		return
	}
	t := &keyTable{keys: keys, fetchedAt: saved.FetchedAt, source: sourceStorage}
	if ks.table.CompareAndSwap(nil, t) {
		ks.log().Warn("jwks: endpoint unreachable; using the saved key set until a fetch succeeds",
			zap.String("url", ks.url), zap.Time("fetched_at", saved.FetchedAt),
			zap.Duration("age", age.Round(time.Second)), zap.Strings("kids", sortedKIDs(keys)))
	}
}

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

// keyInfo describes a key without its material.
type keyInfo struct {
	KID  string `json:"kid"`
	Bits int    `json:"bits"`
	Alg  string `json:"alg"`
}

// status describes the key set for the admin API and logs.
type keySetStatus struct {
	URL         string    `json:"url"`
	KIDs        []string  `json:"kids"`
	Keys        []keyInfo `json:"keys"`
	Source      string    `json:"source,omitempty"`
	LastFetch   time.Time `json:"last_fetch,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
}

func (ks *KeySet) status() keySetStatus {
	st := keySetStatus{URL: ks.url, KIDs: []string{}, Keys: []keyInfo{}}
	if t := ks.table.Load(); t != nil {
		st.KIDs = sortedKIDs(t.keys)
		for _, kid := range st.KIDs {
			st.Keys = append(st.Keys, keyInfo{KID: kid, Bits: t.keys[kid].N.BitLen(), Alg: string(jose.RS256)})
		}
		st.Source = t.source
		st.LastFetch = t.fetchedAt
	}
	ks.mu.Lock()
	st.LastError = ks.lastError
	st.LastAttempt = ks.lastAttempt
	ks.mu.Unlock()
	return st
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
