// Package keys holds the RSA keys that verify WorkOS tokens: JWK sets
// fetched from a URL (in the background, with an unknown-kid window, a
// saved copy in storage and a start-up deadline) or read from a local
// file, parsed key by key under our hygiene rules, and a route's
// Sources over several sets. It knows HTTP, storage and time, and nothing
// of Caddy.
package keys

import (
	"context"
	"crypto/rsa"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/solo-one/caddy-solo-auth/internal/clock"
	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/users"
)

// Limits of a JWKS fetch; past any of them the fetch has failed and the
// last good key set stays in use.
const (
	jwksMaxBody      = 1 << 20
	jwksFetchTimeout = 10 * time.Second
	// Retry schedule while a fetch keeps failing: doubling from the first
	// delay up to the cap, each delay jittered by ±20%.
	jwksRetryFirst = time.Second
	jwksRetryCap   = 60 * time.Second
	// MinRefresh is the shortest jwks_refresh accepted.
	MinRefresh = time.Second
)

// DefaultMinInterval is the least time between two fetches that tokens
// with unknown kids can cause, per URL, whatever the traffic: the default
// of Config.MinInterval.
const DefaultMinInterval = 30 * time.Second

// DefaultStartupWait is the most that start-up waits for first fetches,
// all key sets of a config together; past it Caddy starts without them.
const DefaultStartupWait = 3 * time.Second

// Where a key set in use came from.
const (
	sourceFetch   = "fetch"
	sourceStorage = "storage"
)

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

// Set holds the RSA keys published at one JWKS URL: fetched at start,
// refreshed on a schedule and on demand for unknown kids (rate-limited),
// kept through failed refreshes, and saved so that a restart during an
// outage of the endpoint still verifies. It is safe for concurrent use.
type Set struct {
	minInterval time.Duration // the unknown-kid window
	fetched     func(shownURL string, ok bool)
	url         string // fetched from, and names the saved copy
	shown       string // url as logs, errors, metrics and the admin API show it
	client      *http.Client
	clock       clock.Clock
	refresh     atomic.Int64 // time.Duration between scheduled fetches
	logger      atomic.Pointer[zap.Logger]

	table atomic.Pointer[keyTable]

	mu          sync.Mutex
	users       users.Users[userSettings] // see users.go
	store       Store                     // the newest user's; nil: nothing is saved
	inflight    *fetchCall
	stopping    bool      // Destruct has begun
	lastAttempt time.Time // start of the last fetch of any kind
	lastError   string
	failures    int           // fetches failed in a row since the last good one
	nextAttempt time.Time     // when the background loop fetches next
	wake        chan struct{} // a fetch finished
	reschedule  chan struct{} // the refresh interval changed

	ctx      context.Context // cancelled by Destruct; ends a fetch in flight
	cancel   context.CancelFunc
	started  atomic.Bool
	startup  startup // the first attempt; see start.go
	stopOnce sync.Once
	stopped  chan struct{}
	fetches  sync.WaitGroup // fetch goroutines, waited for by Destruct
}

// Config is what a Set is built from.
type Config struct {
	URL     string
	Refresh time.Duration
	Store   Store
	Logger  *zap.Logger
	Client  *http.Client // nil: a client with the fetch timeout; redirects are never followed
	Clock   clock.Clock  // nil: real time
	// StartupWait is how long the first fetch may take before the saved
	// copy is tried and the first attempt settles; 0: DefaultStartupWait.
	StartupWait time.Duration
	// MinInterval is the unknown-kid window; 0: DefaultMinInterval.
	MinInterval time.Duration
	// Fetched, if set, is told the outcome of every fetch, under the
	// URL as shown (credentials redacted): the fetch metric.
	Fetched func(shownURL string, ok bool)
}

// New makes a key set whose one user has cfg's refresh, storage and
// logger; Start begins fetching.
func New(cfg Config) *Set {
	ks, _ := NewWithUser(cfg)
	return ks
}

// NewWithUser is New that also returns the first user, for
// RemoveUser.
func NewWithUser(cfg Config) (*Set, *User) {
	ks := &Set{
		url:         cfg.URL,
		shown:       RedactURL(cfg.URL),
		clock:       cfg.Clock,
		minInterval: cfg.MinInterval,
		fetched:     cfg.Fetched,
		wake:        make(chan struct{}, 1),
		reschedule:  make(chan struct{}, 1),
		stopped:     make(chan struct{}),
		startup:     startup{wait: cfg.StartupWait, settled: make(chan struct{})},
	}
	if ks.startup.wait <= 0 {
		ks.startup.wait = DefaultStartupWait
	}
	if ks.minInterval <= 0 {
		ks.minInterval = DefaultMinInterval
	}
	ks.ctx, ks.cancel = context.WithCancel(context.Background())
	ks.client = noRedirects(cfg.Client)
	if ks.clock == nil {
		ks.clock = clock.Real{}
	}
	if ks.fetched == nil {
		ks.fetched = func(string, bool) {}
	}
	user := ks.AddUser(cfg.Refresh, cfg.Store, cfg.Logger)
	return ks, user
}

// URL is the set's URL, credentials included: it names the set in the pool.
func (ks *Set) URL() string { return ks.url }

func (ks *Set) log() *zap.Logger { return ks.logger.Load() }

// Destruct stops the background fetching; the UsagePool calls it when no
// config uses this URL any more.
func (ks *Set) Destruct() error {
	ks.mu.Lock()
	ks.stopping = true // no fetch starts from here on (startFetchLocked)
	ks.mu.Unlock()
	ks.stopOnce.Do(ks.cancel)
	if ks.started.Load() {
		<-ks.stopped
	}
	ks.fetches.Wait()
	return nil
}

// rsaKey returns the key published under kid. A known kid never waits.
// While the first attempt to load the set has not settled, a lookup waits
// for it (see awaitFirstAttempt). An unknown kid triggers a fetch unless
// one started within the set's unknown-kid window (minInterval, 30 s by
// default), waits for it (or for the fetch already running) while ctx
// lasts, and looks again.
func (ks *Set) rsaKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	t := ks.table.Load()
	if t == nil {
		if t = ks.awaitFirstAttempt(ctx); t == nil {
			return nil, jwt.ErrKeysUnavailable
		}
	}
	if key, ok := t.keys[kid]; ok {
		return key, nil
	}
	call := ks.fetchUnlessRecent()
	if call == nil {
		return nil, jwt.ErrUnknownKeyID
	}
	select {
	case <-call.done:
	case <-ctx.Done():
		// The client is gone; the fetch goes on for the next request.
		return nil, fmt.Errorf("%w: %w", jwt.ErrUnknownKeyID, ctx.Err())
	}
	if key, ok := ks.table.Load().keys[kid]; ok {
		return key, nil
	}
	return nil, jwt.ErrUnknownKeyID
}

// currentKey returns the key of kid in the set now in use, without ever
// fetching; the token cache asks it on every hit for an RS256 token.
func (ks *Set) currentKey(kid string) *rsa.PublicKey {
	if t := ks.table.Load(); t != nil {
		return t.keys[kid]
	}
	return nil
}

// RSAKeys makes one key set an RSAKeySource (a route with several sets
// uses Sources): one set names a kid at most once.
func (ks *Set) RSAKeys(ctx context.Context, kid string) (*rsa.PublicKey, []*rsa.PublicKey, error) {
	key, err := ks.rsaKey(ctx, kid)
	return key, nil, err
}

// KeyInUse reports whether key is the one kid names in the set now in use.
func (ks *Set) KeyInUse(kid string, key *rsa.PublicKey) bool {
	return key != nil && ks.currentKey(kid) == key
}

// retryAfter is how many seconds a client refused for want of keys should
// wait: until the next background attempt, between 1 and 60.
func (ks *Set) retryAfter() int {
	ks.mu.Lock()
	next := ks.nextAttempt
	ks.mu.Unlock()
	secs := int(next.Sub(ks.clock.Now()).Seconds() + 0.999)
	return min(max(secs, 1), 60)
}

// use puts a table in use and logs what changed. A key that is unchanged
// keeps its old object, so that cached tokens it verified stay valid.
func (ks *Set) use(t *keyTable) {
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
			ce.Write(zap.String("url", ks.shown), zap.Int("keys", len(t.keys)))
		}
		return
	}
	logInUse(ks.log(), ks.shown, t, added, removed)
}

// logInUse is the one line that says which keys a set now verifies with,
// fetched, saved or read from a file.
func logInUse(logger *zap.Logger, shown string, t *keyTable, added, removed []string) {
	logger.Info("jwks: key set in use",
		zap.String("url", shown), zap.String("source", t.source),
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
