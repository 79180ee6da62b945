package keys

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// startup is a key set's first attempt to load: the first fetch and, if it
// fails or outlasts the wait, the saved copy. Nothing of it blocks the
// caller of start; provisioning waits on settled (up to a deadline its
// whole config shares, see the root package's key set pool), and so do lookups until
// the deadline below.
type startup struct {
	wait     time.Duration // how long the first fetch may take
	deadline time.Time     // start + wait; zero: never started
	settled  chan struct{} // closed once a table is in use, or the attempt is over
	once     sync.Once
}

// Start begins fetching the key set in the background and keeps it fresh
// until Destruct; it does not wait. The first attempt settles when a key
// set is in use, or when the first fetch has failed or outlasted the
// start-up wait and the saved copy has been tried.
func (ks *Set) Start() {
	if plainHTTPOffLoopback(ks.url) {
		ks.log().Warn("jwks: URL is plain http to a host that is not loopback; anyone on the path can replace the keys",
			zap.String("url", ks.shown))
	}
	ks.startup.deadline = ks.clock.Now().Add(ks.startup.wait)
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.stopping {
		return
	}
	call := ks.startFetchLocked()
	ks.started.Store(true)
	go ks.run(call)
	ks.fetches.Add(1)
	go ks.firstAttempt(call)
}

// firstAttempt waits for the first fetch, at most the start-up wait, and
// puts the saved copy in use if no key set is by then. The saved copy is
// read from storage meanwhile, not after: a slow storage module would
// otherwise add its read to the wait, past the deadline that provisioning
// and the first requests wait for.
func (ks *Set) firstAttempt(call *fetchCall) {
	defer ks.fetches.Done()
	defer ks.settle()
	saved := make(chan *savedTable, 1)
	ks.fetches.Add(1)
	go func() {
		defer ks.fetches.Done()
		saved <- ks.readSaved()
	}()
	select {
	case <-call.done:
	case <-ks.clock.After(ks.startup.wait):
		ks.log().Warn("jwks: first fetch still running; start-up goes on without it",
			zap.String("url", ks.shown), zap.Duration("waited", ks.startup.wait))
	case <-ks.ctx.Done():
		return
	}
	if ks.table.Load() != nil {
		return
	}
	select {
	case s := <-saved:
		ks.useSaved(s)
	case <-ks.ctx.Done():
	}
}

// settle marks the first attempt over.
func (ks *Set) settle() { ks.startup.once.Do(func() { close(ks.startup.settled) }) }

// Settled is closed once the first attempt is over.
func (ks *Set) Settled() <-chan struct{} { return ks.startup.settled }

// awaitFirstAttempt waits, while ctx lasts and no later than the start-up
// deadline, for the first attempt to settle, and returns the table then in
// use (nil if none). So the first requests to a key set whose handler was
// provisioned after its config's start-up deadline had passed (and so did
// not wait) get the keys as soon as they come, instead of a 503.
func (ks *Set) awaitFirstAttempt(ctx context.Context) *keyTable {
	if ks.startup.deadline.IsZero() {
		return nil // never started: nothing to wait for
	}
	select {
	case <-ks.startup.settled:
		return ks.table.Load()
	default:
	}
	// Past the deadline by at most the storage timeout: the first attempt
	// settles right after its wait (the saved copy is read meanwhile), and
	// a request must not slip into that instant and get a 503.
	if wait := ks.startup.deadline.Add(StorageTimeout).Sub(ks.clock.Now()); wait > 0 {
		select {
		case <-ks.startup.settled:
		case <-ctx.Done():
		case <-ks.clock.After(wait):
		}
	}
	return ks.table.Load()
}
