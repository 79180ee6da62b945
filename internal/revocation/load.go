package revocation

import (
	"context"
	"sync"
	"sync/atomic"
)

// loadConcurrency is how many entries a sync loads at once. A restarted
// instance loads every entry in force, one storage call each: on Redis,
// 100,000 entries took 7.1 s one at a time and 3.1 to 3.4 s sixteen at a
// time on 2 cores, where the client's CPU is then the limit
// (fleet/scale_test.go). Sixteen round trips in flight are nothing to a
// shared store, and a file system takes them as well.
const loadConcurrency = 16

// loaded is one file's content, or why it could not be read.
type loaded struct {
	key  string
	data []byte
	err  error
}

// loadAll loads keys, up to loadConcurrency at a time, and returns their
// contents in the order of keys.
func loadAll(ctx context.Context, store Store, keys []string) []loaded {
	out := make([]loaded, len(keys))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(loadConcurrency, len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(keys); i = int(next.Add(1) - 1) {
				data, err := store.Load(ctx, keys[i])
				out[i] = loaded{keys[i], data, err}
			}
		}()
	}
	wg.Wait()
	return out
}
