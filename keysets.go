package soloauth

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/solo-one/caddy-solo-auth/internal/clock"
	"github.com/solo-one/caddy-solo-auth/internal/keys"
)

// jwksMinInterval is the unknown-kid window of every key set in the
// process. A variable only so that the integration tests' Caddy (built
// with the soloauth_testhooks tag) can shorten it at init; unit tests set
// the pool's field instead.
var jwksMinInterval = keys.DefaultMinInterval

// keySetPool holds one Set per JWKS URL. Handlers of the running config
// and of a config being loaded share it, so a key set survives reloads,
// and it is stopped once no config uses its URL.
type keySetPool struct {
	*caddy.UsagePool
	clock       clock.Clock
	startupWait time.Duration
	minInterval time.Duration // 0: jwksMinInterval
	client      *http.Client  // nil: the default JWKS client

	mu sync.Mutex
	// deadlines is each loading config's start-up deadline, keyed by its
	// context's Done channel (see startupDeadline).
	deadlines map[<-chan struct{}]time.Time
}

func newKeySetPool(clk clock.Clock, startupWait time.Duration) *keySetPool {
	return &keySetPool{UsagePool: caddy.NewUsagePool(), clock: clk, startupWait: startupWait,
		deadlines: map[<-chan struct{}]time.Time{}}
}

// keySets is the process's pool.
var keySets = newKeySetPool(clock.Real{}, keys.DefaultStartupWait)

// acquireKeySet returns the key set of url, starting it if no handler
// uses it yet, and this handler's use of it. Each call must be paired
// with releaseKeySet.
func acquireKeySet(ctx caddy.Context, url string, refresh time.Duration, logger *zap.Logger) (*keys.Set, *keys.User, error) {
	return keySets.acquire(ctx, ctx.Storage(), url, refresh, logger)
}

// releaseKeySet undoes one acquireKeySet; the last release stops the set.
func releaseKeySet(ks *keys.Set, user *keys.User) { keySets.release(ks, user) }

// acquire starts the key set of url if need be, without waiting, and
// then waits for its first attempt to settle, but only until the start-up
// deadline of ctx's config: the first handler of a config to get here
// sets it, so however many key sets a config starts, its start-up waits
// for them no longer than startupWait in all. A key set whose handler
// comes after the deadline is not waited for; its first requests wait
// instead (Set.awaitFirstAttempt).
func (p *keySetPool) acquire(ctx context.Context, store keys.Store, url string, refresh time.Duration, logger *zap.Logger) (*keys.Set, *keys.User, error) {
	deadline := p.startupDeadline(ctx)
	var user *keys.User
	val, loaded, err := p.LoadOrNew(url, func() (caddy.Destructor, error) {
		var ks *keys.Set
		ks, user = keys.NewWithUser(keys.Config{URL: url, Refresh: refresh, Store: store, Logger: logger,
			Client: p.client, Clock: p.clock, StartupWait: p.startupWait, MinInterval: cmp.Or(p.minInterval, jwksMinInterval), Fetched: countJWKSFetch})
		ks.Start()
		return ks, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("jwks %s: %w", keys.RedactURL(url), err)
	}
	ks := val.(*keys.Set)
	if loaded {
		user = ks.AddUser(refresh, store, logger)
	}
	if wait := deadline.Sub(p.clock.Now()); wait > 0 {
		select {
		case <-ks.Settled():
		case <-p.clock.After(wait):
		case <-ctx.Done():
		}
	}
	return ks, user, nil
}

// release undoes one acquire.
func (p *keySetPool) release(ks *keys.Set, user *keys.User) {
	ks.RemoveUser(user)
	_, _ = p.Delete(ks.URL())
}

// startupDeadline is the start-up deadline of ctx's config. Caddy gives
// every module of a config a caddy.Context whose context.Context derives
// from the one context it made for that config (caddy.NewContextWithCause
// in Caddy's run; the http app wraps it in a value per server, so the
// contexts differ but their Done channel is the config's), and cancels it
// when the config is unloaded or fails to load; the entry goes then.
func (p *keySetPool) startupDeadline(ctx context.Context) time.Time {
	done := ctx.Done()
	if done == nil { // a context that never ends: no config to share with
		return p.clock.Now().Add(p.startupWait)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, ok := p.deadlines[done]; ok {
		return d
	}
	d := p.clock.Now().Add(p.startupWait)
	p.deadlines[done] = d
	context.AfterFunc(ctx, func() {
		p.mu.Lock()
		delete(p.deadlines, done)
		p.mu.Unlock()
	})
	return d
}

// fileSets holds the local key sets (jwks_file) in use, keyed by path and
// contents, for the admin API and the metrics; a reload with the file
// unchanged keeps the same set (and the verifier that uses it, warm
// cache included), a changed file makes a new one.
var fileSets = caddy.NewUsagePool()

// acquireFileSet puts a file set just read in the pool, or returns the
// one in use with the same path and contents. Each call must be paired
// with releaseFileSet.
func acquireFileSet(f *keys.File, logger *zap.Logger) (*keys.File, error) {
	val, loaded, err := fileSets.LoadOrNew(f.ID(), func() (caddy.Destructor, error) { return f, nil })
	if err != nil {
		return nil, fmt.Errorf("jwks_file: %s: %w", f.Path(), err)
	}
	if !loaded {
		f.LogInUse(logger)
	}
	return val.(*keys.File), nil
}

// releaseFileSet undoes one acquireFileSet.
func releaseFileSet(f *keys.File) { _, _ = fileSets.Delete(f.ID()) }

// acquireKeySources reads every jwks_file, then takes the key set of
// every URL from the pool (files first, so that a bad file starts no
// fetch), and returns the file sets' ids for the verifier pool's key.
// Cleanup releases what was taken, also after an error.
func (m *SoloAuth) acquireKeySources(ctx caddy.Context, urls, files []string) ([]string, error) {
	ids := make([]string, 0, len(files))
	for _, path := range files {
		read, err := keys.ReadFile(path, time.Now(), m.logger)
		if err != nil {
			return nil, fmt.Errorf("jwks_file: %w", err)
		}
		f, err := acquireFileSet(read, m.logger)
		if err != nil {
			return nil, err
		}
		m.fileSets = append(m.fileSets, f)
		ids = append(ids, f.ID())
	}
	refresh := DefaultJWKSRefresh
	if m.JWKSRefresh > 0 {
		refresh = time.Duration(m.JWKSRefresh)
	}
	for _, url := range urls {
		ks, user, err := acquireKeySet(ctx, url, refresh, m.logger)
		if err != nil {
			return nil, err
		}
		m.keySets = append(m.keySets, ks)
		m.keySetUsers = append(m.keySetUsers, user)
	}
	m.keys = keys.NewSources(m.keySets, m.fileSets)
	return ids, nil
}
