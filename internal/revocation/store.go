package revocation

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"go.uber.org/zap"
)

// Reading Caddy's storage for revocations. Each entry is one immutable
// file, solo_auth/revocations/<id>.json; lifting deletes it. A read lists
// the folder, loads the files the index does not know and deletes
// expired ones; sync.go merges what it found into the index.
//
// The rule that keeps a fleet safe: an entry known here is dropped only
// when a successful, complete list of the folder no longer shows its
// file (or it expired). A list that fails, even part way (certmagic's
// FileStorage fails with fs.ErrNotExist when a file vanishes between
// reading the folder and looking at the file, which another instance
// adding, lifting or expiring an entry causes), drops nothing; a folder
// that is missing while entries are known (a shared mount gone?) drops
// nothing either and is reported as a failed read.

const (
	revocationPrefix = "solo_auth/revocations"
	// defaultPoll is how often storage is read for entries
	// that other instances added or lifted.
	defaultPoll = 10 * time.Second
	// MinPoll keeps a misconfigured fleet from hammering
	// shared storage; short enough for tests and small fleets.
	MinPoll = 100 * time.Millisecond
	// revocationStorageTimeout bounds one sync, or one add or lift.
	revocationStorageTimeout = 10 * time.Second
	// revocationStartTimeout bounds the sync that a config load waits
	// for, so that a storage that does not answer its List holds
	// start-up no longer than this. One that has listed and is loading
	// holds it up to revocationStorageTimeout (sync.go).
	revocationStartTimeout = 3 * time.Second
)

// Store is the part of certmagic.Storage (ctx.Storage()) the
// list uses.
type Store interface {
	Store(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
	Exists(ctx context.Context, key string) bool
	List(ctx context.Context, prefix string, recursive bool) ([]string, error)
}

func Key(id string) string { return revocationPrefix + "/" + id + ".json" }

func revocationIDOfKey(key string) (string, bool) {
	id, ok := strings.CutSuffix(path.Base(key), ".json")
	return id, ok && IsID(id)
}

// storageRead is what one read of storage found.
type storageRead struct {
	add []*Entry // entries in force the index did not know
	// listed holds the ids whose file the list showed; complete says
	// the list succeeded whole, so that a known entry it does not show
	// was lifted.
	listed   map[string]bool
	complete bool
	// gone holds the ids added here that the complete list did not
	// show and whose own file is gone too: lifted or expired elsewhere,
	// not merely missing from a list that lags the write.
	gone map[string]bool
	// unreadable is the files that could not be decoded, by key, with
	// a hash of their content and the reason.
	unreadable map[string]unreadableEntry
	err        error // a failed list or load: nothing is dropped for it
}

type unreadableEntry struct {
	sum [sha256.Size]byte
	err error
}

// readStorage reads the folder against the index known when the sync
// began, and looks up one by one the entries added here (unlisted) that
// the list leaves out. It calls listed once the folder is listed. It
// takes no lock: it may take as long as storage does.
func (l *List) readStorage(ctx context.Context, store Store, known *index, unlisted []string, listed func(), logger *zap.Logger) storageRead {
	var r storageRead
	keys, err := store.List(ctx, revocationPrefix, false)
	switch {
	case err == nil:
		r.complete = true
	case errors.Is(err, fs.ErrNotExist) && !store.Exists(ctx, revocationPrefix):
		// No folder: nothing to add, and nothing dropped for it.
		keys, err = nil, nil
		if n := known.count(l.clock.Now()); n > 0 {
			err = fmt.Errorf("%s is missing while %d entries are known; keeping them", revocationPrefix, n)
		}
	case errors.Is(err, fs.ErrNotExist):
		// A file came or went while the folder was walked: once more.
		again, err2 := store.List(ctx, revocationPrefix, false)
		if err2 == nil {
			keys, err, r.complete = again, nil, true
		} else {
			keys, err = append(keys, again...), err2
		}
	}
	if err != nil {
		r.err = fmt.Errorf("listing %s: %w", revocationPrefix, err)
	} else {
		listed()
	}
	// Sized once: growing it key by key was a fifth of a poll's CPU
	// with 100,000 entries.
	r.listed = make(map[string]bool, len(keys))
	now := l.clock.Now()
	var unknown, expired []string
	for _, key := range keys {
		id, ok := revocationIDOfKey(key)
		if !ok || r.listed[id] {
			continue // not ours, or listed twice by a retry
		}
		r.listed[id] = true
		switch e := known.byID[id]; {
		case e == nil:
			unknown = append(unknown, key)
		case !e.inForce(now):
			expired = append(expired, key)
		}
	}
	var loadErr error
	for _, f := range loadAll(ctx, store, unknown) {
		id, _ := revocationIDOfKey(f.key)
		switch {
		case errors.Is(f.err, fs.ErrNotExist): // lifted meanwhile
			delete(r.listed, id)
			continue
		case f.err != nil:
			loadErr = cmp.Or(loadErr, fmt.Errorf("loading %s: %w", f.key, f.err))
			continue
		}
		e, err := decodeStoredRevocation(f.data, id)
		switch {
		case err != nil:
			r.unreadable = mapSet(r.unreadable, f.key, unreadableEntry{sha256.Sum256(f.data), err})
		case e.inForce(now):
			r.add = append(r.add, e)
		default:
			expired = append(expired, f.key)
		}
	}
	for _, key := range expired {
		if err := store.Delete(ctx, key); err != nil && !errors.Is(err, fs.ErrNotExist) {
			logger.Debug("revocations: could not delete an expired entry", zap.String("key", key), zap.Error(err))
		}
	}
	if r.complete {
		r.gone = lookUpUnlisted(ctx, store, unlisted, r.listed)
	}
	r.err = cmp.Or(r.err, loadErr)
	return r
}

// lookUpUnlisted loads the file of each entry added here that the list
// did not show, and returns those whose file does not exist. A storage's
// List may lag its writes where a read of the key does not (the
// eventually consistent listing of object stores); a file that loads, or
// a load that fails otherwise, keeps its entry.
func lookUpUnlisted(ctx context.Context, store Store, unlisted []string, listed map[string]bool) map[string]bool {
	var gone map[string]bool
	for _, id := range unlisted {
		if listed[id] {
			continue
		}
		if _, err := store.Load(ctx, Key(id)); errors.Is(err, fs.ErrNotExist) {
			gone = mapSet(gone, id, true)
		}
	}
	return gone
}

func decodeStoredRevocation(data []byte, id string) (*Entry, error) {
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, err
	}
	if e.ID != id {
		return nil, fmt.Errorf("id %q in a file named %q", e.ID, id)
	}
	if err := e.checkStored(); err != nil {
		return nil, err
	}
	return &e, nil
}
