package keys

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// fetchUnlessRecent joins the fetch in flight, or starts one if none has
// started in the last ks.minInterval; nil means neither.
func (ks *Set) fetchUnlessRecent() *fetchCall {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.inflight != nil {
		return ks.inflight
	}
	if !ks.lastAttempt.IsZero() && ks.clock.Now().Sub(ks.lastAttempt) < ks.minInterval {
		return nil
	}
	return ks.startFetchLocked()
}

// fetch joins the fetch in flight or starts one.
func (ks *Set) fetch() *fetchCall {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.inflight != nil {
		return ks.inflight
	}
	return ks.startFetchLocked()
}

// errStopped is the outcome of a fetch asked for once Destruct has begun.
var errStopped = errors.New("key set stopped")

// startFetchLocked starts a fetch, unless Destruct has begun: then it
// returns a call that is already over, so that no fetch goroutine is
// added while Destruct waits for them. ks.mu is held.
func (ks *Set) startFetchLocked() *fetchCall {
	if ks.stopping {
		call := &fetchCall{done: make(chan struct{}), err: errStopped}
		close(call.done)
		return call
	}
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
			ks.failures++
		default:
			ks.lastError = ""
			ks.failures = 0
		}
		ks.mu.Unlock()
		// Wake the background loop to reschedule, before done is closed,
		// so that the loop, if it was the one waiting on done, finds
		// this wake-up and drains it. A wake-up dropped because one is
		// already pending loses nothing: the loop reads the failure
		// count, not the number of wake-ups.
		select {
		case ks.wake <- struct{}{}:
		default:
		}
		close(call.done)
		if call.err == nil {
			ks.settle() // a key set is in use, and this fetch is over
		}
	}()
	return call
}

// run is the background loop: scheduled refreshes while a fetched set is
// in use, retries with capped, jittered backoff while none is. It counts
// the first fetch (call) as its own, so that the schedule it starts with
// does not depend on which goroutine gets there first.
func (ks *Set) run(call *fetchCall) {
	defer close(ks.stopped)
	for {
		if call != nil {
			select {
			case <-ks.ctx.Done():
				return
			case <-call.done:
			}
			// Drain the wake-up this fetch sent: its outcome is counted.
			select {
			case <-ks.wake:
			default:
			}
			call = nil
		}
		wait := ks.scheduleNext()
		select {
		case <-ks.ctx.Done():
			return
		case <-ks.reschedule:
			continue
		case <-ks.wake:
			// A fetch finished (perhaps one a request asked for): look
			// at the schedule again.
			continue
		case <-ks.clock.After(wait):
		}
		call = ks.fetch()
	}
}

// scheduleNext decides how long the loop waits before its next fetch and
// records when that is. It reads the outcome of the fetches so far, not
// the wake-ups the loop saw, so a fetch that ended while the loop was busy
// (its wake-up merged with another) still counts.
func (ks *Set) scheduleNext() time.Duration {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	var wait time.Duration
	t := ks.table.Load()
	switch {
	case t != nil && t.source == sourceFetch && ks.failures == 0:
		wait = time.Duration(ks.refresh.Load()) - ks.clock.Now().Sub(t.fetchedAt)
	case t != nil && t.source == sourceFetch:
		// A fetched set is in use and a fetch failed (perhaps one an
		// unknown kid asked for): retry no sooner than the unknown-kid
		// limit, so that such tokens cannot make the set fetch more
		// often than that; and no later than the schedule.
		wait = min(max(retryDelay(ks.failures), ks.minInterval), time.Duration(ks.refresh.Load()))
	default:
		// No set, or only the saved one: retry with backoff.
		wait = retryDelay(ks.failures)
	}
	wait = max(wait, 0)
	ks.nextAttempt = ks.clock.Now().Add(wait)
	return wait
}

// retryDelay is the wait after n failed fetches: 1s, 2s, 4s ... up to a
// minute, each ±20% so that a fleet of gateways does not retry in step.
func retryDelay(failures int) time.Duration {
	d := jwksRetryFirst
	for i := 1; i < failures && d < jwksRetryCap; i++ {
		d *= 2
	}
	d = min(d, jwksRetryCap)
	return time.Duration(float64(d) * retryJitter())
}

// retryJitter is the factor a retry delay is multiplied by; a variable so
// that a test can check the schedule exactly.
var retryJitter = func() float64 { return 0.8 + 0.4*rand.Float64() }

// fetchAndSwap fetches the key set once and, if it is good, puts it in use
// and saves it. A failed fetch changes nothing but the last error.
func (ks *Set) fetchAndSwap() error {
	body, err := ks.download()
	if err == nil {
		var keys map[string]*rsa.PublicKey
		keys, err = ks.parse(body)
		if err == nil {
			ks.use(&keyTable{keys: keys, fetchedAt: ks.clock.Now(), source: sourceFetch})
			ks.save(body)
			ks.fetched(ks.shown, true)
			return nil
		}
	}
	err = fmt.Errorf("jwks %s: %w", ks.shown, err)
	if ks.ctx.Err() != nil {
		return err // stopped: not a failure of the endpoint
	}
	ks.fetched(ks.shown, false)
	ks.log().Warn("jwks: fetch failed; keeping the last good key set",
		zap.String("url", ks.shown), zap.Bool("have_keys", ks.table.Load() != nil), zap.Error(err))
	return err
}

func (ks *Set) download() ([]byte, error) {
	ctx, cancel := context.WithTimeout(ks.ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, ks.hideURL(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, ks.hideURL(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("status %d, Location %q: %w", resp.StatusCode, RedactURL(resp.Header.Get("Location")), errRedirect)
	}
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

// hideURL shows the URL in err's *url.Error as redacted: net/http hides a
// password there, but not a user name or the query.
func (ks *Set) hideURL(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		uerr.URL = ks.shown
	}
	return err
}

func (ks *Set) parse(body []byte) (map[string]*rsa.PublicKey, error) {
	keys, skipped, err := parseJWKSLogged(body, ks.log(), ks.shown)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no usable key (%d skipped)", len(skipped))
	}
	return keys, nil
}

// parseJWKSLogged is Parse that logs each skipped key with its reason
// under the set's URL as shown (file://<path> for a jwks_file), so that a
// fetched set and a local one tell an operator the same things.
func parseJWKSLogged(body []byte, logger *zap.Logger, shown string) (map[string]*rsa.PublicKey, []skippedKey, error) {
	keys, skipped, err := Parse(body)
	for _, s := range skipped {
		if ce := logger.Check(zapcore.InfoLevel, "jwks: key skipped"); ce != nil {
			ce.Write(zap.String("url", shown), zap.String("kid", s.kid), zap.String("reason", s.reason))
		}
	}
	return keys, skipped, err
}

// FetchOnce fetches the set now, merged with any fetch under way, and
// waits for the outcome: for a one-off use such as inspect, which starts
// no background fetching.
func (ks *Set) FetchOnce() error {
	call := ks.fetch()
	<-call.done
	return call.err
}
