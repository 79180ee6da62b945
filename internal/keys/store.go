package keys

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"go.uber.org/zap"
)

const (
	// jwksSavedMaxAge is how old a saved key set may be and still be used
	// at start-up while the endpoint cannot be reached.
	jwksSavedMaxAge = 7 * 24 * time.Hour
	// StorageTimeout bounds reading or writing the saved key set, so
	// that a slow storage module cannot hold start-up long.
	StorageTimeout = 3 * time.Second
)

// Store keeps the last good key set of each URL; certmagic.Storage,
// which Caddy's ctx.Storage() returns, is one.
type Store interface {
	Load(ctx context.Context, key string) ([]byte, error)
	Store(ctx context.Context, key string, value []byte) error
}

// savedKeySet is what is written to storage for a URL: under a name
// derived from the full URL, with the URL as shown (credentials redacted),
// since storage may be shared and read by other tools.
type savedKeySet struct {
	URL       string          `json:"url"`
	FetchedAt time.Time       `json:"fetched_at"`
	JWKS      json.RawMessage `json:"jwks"`
}

// StorageKey names a URL's saved key set; hashed, since URLs are not
// valid storage keys.
func StorageKey(url string) string {
	sum := sha256.Sum256([]byte(url))
	return "solo_auth/jwks/" + hex.EncodeToString(sum[:16]) + ".json"
}

func (ks *Set) save(body []byte) {
	store := ks.storage()
	if store == nil {
		return
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return // parse accepted it, so this does not happen
	}
	data, err := json.Marshal(savedKeySet{URL: ks.shown, FetchedAt: ks.clock.Now().UTC(), JWKS: compact.Bytes()})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ks.ctx, StorageTimeout)
	defer cancel()
	if err := store.Store(ctx, StorageKey(ks.url), data); err != nil {
		ks.log().Warn("jwks: could not save the key set", zap.String("url", ks.shown), zap.Error(err))
	}
}

// savedTable is a saved key set read from storage, not yet in use.
type savedTable struct {
	table *keyTable
	age   time.Duration
}

// readSaved reads and checks the saved key set; nil if there is none fit
// to use.
func (ks *Set) readSaved() *savedTable {
	store := ks.storage()
	if store == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ks.ctx, StorageTimeout)
	defer cancel()
	data, err := store.Load(ctx, StorageKey(ks.url))
	if err != nil {
		ks.log().Debug("jwks: no saved key set", zap.String("url", ks.shown), zap.Error(err))
		return nil
	}
	var saved savedKeySet
	// Copies saved before URLs were redacted hold the full URL.
	if err := json.Unmarshal(data, &saved); err != nil || (saved.URL != ks.shown && saved.URL != ks.url) {
		ks.log().Warn("jwks: saved key set unreadable; ignored", zap.String("url", ks.shown))
		return nil
	}
	age := ks.clock.Now().Sub(saved.FetchedAt)
	if age > jwksSavedMaxAge {
		ks.log().Warn("jwks: saved key set too old; ignored",
			zap.String("url", ks.shown), zap.Time("fetched_at", saved.FetchedAt))
		return nil
	}
	keys, err := ks.parse(saved.JWKS)
	if err != nil {
		ks.log().Warn("jwks: saved key set unusable; ignored", zap.String("url", ks.shown), zap.Error(err))
		return nil
	}
	return &savedTable{table: &keyTable{keys: keys, fetchedAt: saved.FetchedAt, source: sourceStorage}, age: age}
}

// useSaved puts a saved key set in use if none is.
func (ks *Set) useSaved(s *savedTable) {
	if s != nil && ks.table.CompareAndSwap(nil, s.table) {
		ks.log().Warn("jwks: endpoint unreachable; using the saved key set until a fetch succeeds",
			zap.String("url", ks.shown), zap.Time("fetched_at", s.table.fetchedAt),
			zap.Duration("age", s.age.Round(time.Second)), zap.Strings("kids", SortedKIDs(s.table.keys)))
	}
}
