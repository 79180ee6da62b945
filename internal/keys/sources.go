package keys

import (
	"context"
	"crypto/rsa"
	"fmt"

	"github.com/solo-one/caddy-solo-auth/internal/jwt"
)

// Sources is the RSAKeySource of a route with several key sets: the
// fetched ones (one per JWKS URL, from the process-wide pool) and the
// local ones (jwks_file, read when the config loaded, never changed).
//
// A kid is looked up in every set, and every key found under it is
// tried. A known kid never waits. A kid that no loaded set knows asks
// each loaded fetched set for a refresh under that set's own unknown-kid
// window (Set.fetchUnlessRecent), all at once, and waits for them and
// for the first attempt of each set not loaded yet, while ctx lasts. A
// set that knows the kid is never waited on: the wait only happens when
// none does. While a fetched set has never loaded and no loaded set
// knows the kid, the answer is ErrKeysUnavailable (a 503), else
// ErrUnknownKeyID.
type Sources struct {
	fetched []*Set
	files   []*keyTable
}

// NewSources is the key source of a route with these fetched and file
// sets.
func NewSources(fetched []*Set, files []*File) *Sources {
	s := &Sources{fetched: fetched}
	for _, f := range files {
		s.files = append(s.files, f.table)
	}
	return s
}

// RSAKeys returns the keys of kid in every set; see Sources.
func (s *Sources) RSAKeys(ctx context.Context, kid string) (*rsa.PublicKey, []*rsa.PublicKey, error) {
	first, more, unloaded := s.lookup(kid)
	if first != nil {
		return first, more, nil
	}
	if first, more = s.awaitKID(ctx, kid); first != nil {
		return first, more, nil
	}
	_, _, unloaded = s.lookup(kid)
	switch {
	case unloaded > 0:
		return nil, nil, jwt.ErrKeysUnavailable
	case ctx.Err() != nil:
		// The client is gone; the fetches go on for the next request.
		return nil, nil, fmt.Errorf("%w: %w", jwt.ErrUnknownKeyID, ctx.Err())
	}
	return nil, nil, jwt.ErrUnknownKeyID
}

// awaitKID asks every loaded fetched set for a refresh (each under its
// own window) and waits for those and for the first attempts of the sets
// not loaded yet, all at once, looking kid up again as each one ends: the
// first set to find it answers, and a slow or dead endpoint of another
// set holds nobody up. A set whose first attempt ends meanwhile is asked
// for a refresh then, as one set alone would be (Set.rsaKey). This is
// the slow path of a kid no set knows, which the windows rate-limit, so a
// goroutine per wait is affordable; each ends when the wait does.
func (s *Sources) awaitKID(ctx context.Context, kid string) (*rsa.PublicKey, []*rsa.PublicKey) {
	waitCtx, stop := context.WithCancel(ctx)
	defer stop()
	// Each set sends at most two events (its first attempt, one refresh),
	// so no sender ever blocks once this returns.
	events := make(chan struct{}, 2*len(s.fetched))
	pending := 0
	asked := make([]bool, len(s.fetched))
	askLoaded := func() {
		for i, ks := range s.fetched {
			if asked[i] || ks.table.Load() == nil {
				continue
			}
			asked[i] = true
			if call := ks.fetchUnlessRecent(); call != nil {
				pending++
				go func() {
					select {
					case <-call.done:
					case <-waitCtx.Done():
					}
					events <- struct{}{}
				}()
			}
		}
	}
	for _, ks := range s.fetched {
		if ks.table.Load() == nil {
			pending++
			go func() {
				ks.awaitFirstAttempt(waitCtx)
				events <- struct{}{}
			}()
		}
	}
	askLoaded()
	for pending > 0 {
		select {
		case <-events:
			pending--
		case <-ctx.Done():
			return nil, nil
		}
		if first, more, _ := s.lookup(kid); first != nil {
			return first, more
		}
		askLoaded()
	}
	return nil, nil
}

// lookup finds kid in the sets in use, without waiting, and counts the
// fetched sets not loaded yet.
func (s *Sources) lookup(kid string) (first *rsa.PublicKey, more []*rsa.PublicKey, unloaded int) {
	found := func(key *rsa.PublicKey) {
		switch {
		case first == nil:
			first = key
		case !key.Equal(first):
			more = append(more, key)
		}
	}
	for _, t := range s.files {
		if key, ok := t.keys[kid]; ok {
			found(key)
		}
	}
	for _, ks := range s.fetched {
		t := ks.table.Load()
		if t == nil {
			unloaded++
			continue
		}
		if key, ok := t.keys[kid]; ok {
			found(key)
		}
	}
	return first, more, unloaded
}

// KeyInUse reports whether key is still what kid names in one of the
// sets in use: the token cache's check, on every hit.
func (s *Sources) KeyInUse(kid string, key *rsa.PublicKey) bool {
	if key == nil {
		return false
	}
	for _, t := range s.files {
		if t.keys[kid] == key {
			return true
		}
	}
	for _, ks := range s.fetched {
		if ks.currentKey(kid) == key {
			return true
		}
	}
	return false
}

// RetryAfter is how many seconds a client refused for want of keys should
// wait: until the soonest next attempt of a fetched set not loaded yet
// (of any fetched set if all are loaded), between 1 and 60.
func (s *Sources) RetryAfter() int {
	best := 0
	for _, loaded := range []bool{false, true} {
		for _, ks := range s.fetched {
			if (ks.table.Load() != nil) != loaded {
				continue
			}
			if secs := ks.retryAfter(); best == 0 || secs < best {
				best = secs
			}
		}
		if best > 0 {
			return best
		}
	}
	return 1
}
