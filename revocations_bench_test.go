package soloauth

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/solo-one/caddy-solo-auth/internal/clock"
	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/revocation"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
	"go.uber.org/zap"
)

// revocationEntries makes n entries of the four kinds in turn, none of
// which names the benchmark's tokens.
func revocationEntries(tb testing.TB, n int) []*revocation.Entry {
	now := time.Now()
	entries := make([]*revocation.Entry, n)
	for i := range entries {
		var body string
		switch i % 4 {
		case 0:
			body = fmt.Sprintf(`{"sub":"user_%08d"}`, i)
		case 1:
			body = fmt.Sprintf(`{"token_sha256":"%064x"}`, i)
		case 2:
			body = fmt.Sprintf(`{"sid":"session_%08d"}`, i)
		default:
			body = fmt.Sprintf(`{"jti":"jti_%08d"}`, i)
		}
		entries[i] = parsedRevocation(tb, body, now)
	}
	return entries
}

// revocationStorage is a storage holding n entries.
func revocationStorage(tb testing.TB, n int) *tu.Storage {
	store := tu.NewStorage()
	for _, e := range revocationEntries(tb, n) {
		data, err := json.Marshal(e)
		if err != nil {
			tb.Fatal(err)
		}
		if err := store.Store(context.Background(), revocation.Key(e.ID), data); err != nil {
			tb.Fatal(err)
		}
	}
	return store
}

// listWithEntries is a list with the n entries of store in force, read at
// start as an instance reads its fleet's entries.
func listWithEntries(tb testing.TB, store *tu.Storage, n int) *revocation.List {
	l := revocation.NewList(clock.Real{}, nil)
	u := l.Acquire(time.Hour, store, zap.NewNop())
	tb.Cleanup(func() { l.Release(u) })
	if entries, _ := l.Snapshot(); len(entries) != n {
		tb.Fatalf("%d entries in force, want %d", len(entries), n)
	}
	return l
}

func revocationHandler(tb testing.TB, n int) *SoloAuth {
	m := benchHandler("templates:read")
	m.revocations = listWithEntries(tb, revocationStorage(tb, n), n)
	return m
}

// BenchmarkServeHTTPRevocations is BenchmarkServeHTTPCacheHit and
// BenchmarkServeHTTPDistinct with 0 and 10,000 entries in force (a
// quarter of each kind, token hashes included, so that the token's
// SHA-256 is computed: once per cached identity, once per request for
// distinct tokens).
func BenchmarkServeHTTPRevocations(b *testing.B) {
	distinct := tu.DistinctTokens(1<<16, func(c tu.Claims) string { return tu.HS256(tu.SecretA, c) })
	for _, n := range []int{0, 10000} {
		b.Run(fmt.Sprintf("cached/entries=%d", n), func(b *testing.B) {
			benchServeHTTP(b, revocationHandler(b, n))
		})
		b.Run(fmt.Sprintf("distinct/entries=%d", n), func(b *testing.B) {
			benchServeHTTP(b, revocationHandler(b, n), distinct...)
		})
	}
}

// BenchmarkRevocationLookup is the request path's lookup alone, on a
// cached identity (its token hash already computed).
func BenchmarkRevocationLookup(b *testing.B) {
	v := &jwt.Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}}
	id, err := v.Verify(tu.HS256(tu.SecretA, tu.BenchClaims().With("sid", "session_x", "jti", "jti_x")))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{0, 10000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			l := listWithEntries(b, revocationStorage(b, n), n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if l.Revokes((*revocationToken)(id)) {
					b.Fatal("revoked")
				}
			}
		})
	}
}

// BenchmarkRevocationMemory measures the heap that 10,000 entries take
// once in force (the entries and the index, read from storage; the
// storage itself is not counted), as the README states it.
func BenchmarkRevocationMemory(b *testing.B) {
	var l *revocation.List
	var perIndex float64
	for i := 0; i < b.N; i++ {
		store := revocationStorage(b, 10000)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		l = listWithEntries(b, store, 10000)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perIndex = float64(after.HeapAlloc) - float64(before.HeapAlloc)
	}
	runtime.KeepAlive(l)
	b.ReportMetric(perIndex/(1<<20), "MiB/10k-entries")
	b.ReportMetric(0, "ns/op")
}

// TestRevocationBenchEntries keeps the benchmark's entries honest: none
// of them revokes the benchmark's token.
func TestRevocationBenchEntries(t *testing.T) {
	m := revocationHandler(t, 10000) // fails unless all 10,000 are in force
	id, err := m.verifier.Verify(tu.HS256(tu.SecretA, tu.BenchClaims()))
	if err != nil {
		t.Fatal(err)
	}
	if m.revocations.Revokes((*revocationToken)(id)) {
		t.Fatal("the benchmark's token is revoked")
	}
	if !strings.HasPrefix(revocationEntries(t, 2)[1].TokenSHA256, "0000") {
		t.Fatal("the hash entries are not the benchmark's")
	}
}
