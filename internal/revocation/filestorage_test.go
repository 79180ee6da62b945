package revocation

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/solo-one/caddy-solo-auth/internal/clock"
)

// countingStorage counts the Lists that fail with fs.ErrNotExist.
type countingStorage struct {
	*certmagic.FileStorage
	partial atomic.Int64
}

func (s *countingStorage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	keys, err := s.FileStorage.List(ctx, prefix, recursive)
	if errors.Is(err, fs.ErrNotExist) {
		s.partial.Add(1)
	}
	return keys, err
}

// TestRevocationFileStorageChurn: on a real certmagic.FileStorage, while
// another writer adds and lifts entries (temp file and rename, then
// delete), every sync keeps the stable entries: FileStorage.List fails
// part way when a file vanishes during its walk, and that must never be
// read as "those entries were lifted".
func TestRevocationFileStorageChurn(t *testing.T) {
	const stable, churn = 200, 400
	store := &countingStorage{FileStorage: &certmagic.FileStorage{Path: t.TempDir()}}
	writer := NewList(clock.Real{}, nil)
	for i := range stable {
		e := mustRevocation(t, fmt.Sprintf(`{"sub":"stable_%d"}`, i), time.Now())
		if err := writer.Add(store, e, zap.NewNop()); err != nil {
			t.Fatal(err)
		}
	}
	l := NewList(clock.Real{}, nil)
	l.store = store
	if err := l.sync(revocationStorageTimeout, nil); err != nil || len(l.index.Load().byID) != stable {
		t.Fatalf("first sync: %v, %d known", err, len(l.index.Load().byID))
	}

	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := range churn {
			e := mustRevocation(t, fmt.Sprintf(`{"jti":"churn_%d"}`, i), time.Now())
			if err := writer.Add(store, e, zap.NewNop()); err != nil {
				t.Error(err)
				return
			}
			if _, err := writer.Lift(store, e.ID, zap.NewNop()); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	syncs := 0
	for running := true; running; syncs++ {
		select {
		case <-done:
			running = false
		default:
		}
		_ = l.sync(revocationStorageTimeout, nil) // a failed read is allowed; a lost entry is not
		if n := len(l.index.Load().byID); n < stable {
			t.Fatalf("sync %d: %d entries known, fewer than the %d stable ones (%d partial lists so far)",
				syncs, n, stable, store.partial.Load())
		}
	}
	wg.Wait()
	t.Logf("%d syncs, %d Lists failed part way", syncs, store.partial.Load())
}
