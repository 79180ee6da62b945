package soloauth

import (
	"context"
	"crypto/rsa"
	"fmt"
)

// keySources is the RSAKeySource of a route with several key sets: the
// fetched ones (one per JWKS URL, from the process-wide pool) and the
// local ones (jwks_file, read when the config loaded, never changed).
//
// A kid is looked up in every set, and every key found under it is
// tried. A known kid never waits. A kid that no loaded set knows asks
// each loaded fetched set for a refresh under that set's own unknown-kid
// window (KeySet.fetchUnlessRecent), all at once, and waits for them and
// for the first attempt of each set not loaded yet, while ctx lasts. A
// set that knows the kid is never waited on: the wait only happens when
// none does. While a fetched set has never loaded and no loaded set
// knows the kid, the answer is ErrKeysUnavailable (a 503), else
// ErrUnknownKeyID.
type keySources struct {
	fetched []*KeySet
	files   []*keyTable
}

// RSAKeys returns the keys of kid in every set; see keySources.
func (s *keySources) RSAKeys(ctx context.Context, kid string) (*rsa.PublicKey, []*rsa.PublicKey, error) {
	first, more, unloaded := s.lookup(kid)
	if first != nil {
		return first, more, nil
	}
	// Two rounds at most: a set whose first attempt settles in the first
	// round is asked for a refresh in the second, as one set alone would
	// be (KeySet.RSAKey).
	asked := make([]bool, len(s.fetched))
	for round := 0; round < 2; round++ {
		var calls []*fetchCall
		var waitFirst []*KeySet
		for i, ks := range s.fetched {
			if ks.table.Load() == nil {
				waitFirst = append(waitFirst, ks)
				continue
			}
			if asked[i] {
				continue
			}
			asked[i] = true
			if call := ks.fetchUnlessRecent(); call != nil {
				calls = append(calls, call)
			}
		}
		if len(calls) == 0 && len(waitFirst) == 0 {
			break
		}
		// The fetches run at once; waiting on them one after another
		// ends when the slowest does.
		for _, ks := range waitFirst {
			ks.awaitFirstAttempt(ctx)
		}
		for _, call := range calls {
			select {
			case <-call.done:
			case <-ctx.Done():
			}
		}
		if first, more, unloaded = s.lookup(kid); first != nil {
			return first, more, nil
		}
		if ctx.Err() != nil || len(calls) == 0 && unloaded == len(waitFirst) {
			break // the client is gone, or nothing changed
		}
	}
	switch {
	case unloaded > 0:
		return nil, nil, ErrKeysUnavailable
	case ctx.Err() != nil:
		// The client is gone; the fetches go on for the next request.
		return nil, nil, fmt.Errorf("%w: %w", ErrUnknownKeyID, ctx.Err())
	}
	return nil, nil, ErrUnknownKeyID
}

// lookup finds kid in the sets in use, without waiting, and counts the
// fetched sets not loaded yet.
func (s *keySources) lookup(kid string) (first *rsa.PublicKey, more []*rsa.PublicKey, unloaded int) {
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
func (s *keySources) KeyInUse(kid string, key *rsa.PublicKey) bool {
	if key == nil {
		return false
	}
	for _, t := range s.files {
		if t.keys[kid] == key {
			return true
		}
	}
	for _, ks := range s.fetched {
		if ks.CurrentKey(kid) == key {
			return true
		}
	}
	return false
}

// RetryAfter is how many seconds a client refused for want of keys should
// wait: until the soonest next attempt of a fetched set not loaded yet
// (of any fetched set if all are loaded), between 1 and 60.
func (s *keySources) RetryAfter() int {
	best := 0
	for _, loaded := range []bool{false, true} {
		for _, ks := range s.fetched {
			if (ks.table.Load() != nil) != loaded {
				continue
			}
			if secs := ks.RetryAfter(); best == 0 || secs < best {
				best = secs
			}
		}
		if best > 0 {
			return best
		}
	}
	return 1
}
