package main

// The revocation list at fleet scale, on a real redis-server through the
// real storage module (caddy.storage.redis): what one instance pays to
// poll, to start, and to hold N entries in force.
//
//	go test -C fleet -run '^$' -bench RevocationScale -benchtime 1x -count 3
//
// Redis tells what a poll costs it: INFO's commandstats count the ZRANGE
// calls (one per poll) and INFO's stats the bytes it sent.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/solo-one/caddy-solo-auth/internal/clock"
	"github.com/solo-one/caddy-solo-auth/internal/revocation"
)

// scaleRedis is a redis-server of the benchmark's own.
type scaleRedis struct {
	port int
	cmd  *exec.Cmd
}

func startScaleRedis(tb testing.TB) *scaleRedis {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		tb.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	r := &scaleRedis{port: 20000 + os.Getpid()%20000}
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", tb.TempDir())
	if err := r.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		_ = r.cmd.Wait()
	})
	for range 200 {
		if out, _ := r.cli("PING"); strings.TrimSpace(out) == "PONG" {
			return r
		}
		time.Sleep(25 * time.Millisecond)
	}
	tb.Fatal("redis-server did not answer")
	return nil
}

func (r *scaleRedis) cli(args ...string) (string, error) {
	out, err := exec.Command("redis-cli", append([]string{"-p", strconv.Itoa(r.port)}, args...)...).CombinedOutput()
	return string(out), err
}

// info reads one field of INFO (e.g. "total_net_output_bytes", or
// "cmdstat_zrange" whose calls= it returns).
func (r *scaleRedis) info(tb testing.TB, section, field string) int64 {
	tb.Helper()
	out, err := r.cli("INFO", section)
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(out) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":")
		if !ok {
			continue
		}
		if calls, ok := strings.CutPrefix(v, "calls="); ok {
			v, _, _ = strings.Cut(calls, ",")
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

// storage is the Redis storage module as Caddy provisions it.
func (r *scaleRedis) storage(tb testing.TB) certmagic.Storage {
	tb.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	tb.Cleanup(cancel)
	raw, _ := json.Marshal(map[string]any{"address": []string{fmt.Sprintf("127.0.0.1:%d", r.port)}, "timeout": "10"})
	mod, err := ctx.LoadModuleByID("caddy.storage.redis", raw)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := mod.(caddy.StorageConverter).CertMagicStorage()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// populate stores n sub revocations, 16 at a time, as the admin API of
// many instances would: each through a list of its own with no handler
// (so Add writes to store), since one list's index is copied on every
// add and would make this quadratic.
func populate(tb testing.TB, store certmagic.Storage, n int) {
	tb.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				e, err := revocation.ParseRequest([]byte(fmt.Sprintf(`{"sub":"user_%07d"}`, i)), time.Now())
				if err == nil {
					err = revocation.NewList(clock.Real{}, nil).Add(store, e, zap.NewNop())
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		tb.Fatal(err)
	}
}

// memory is the heap in use after a GC, and the process's RSS.
func memory() (heap, rss int64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	status, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			rss = kb << 10
		}
	}
	return int64(ms.HeapInuse), rss
}

// cpuTime is the CPU this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkRevocationScale(b *testing.B) {
	for _, n := range []int{0, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			redis := startScaleRedis(b)
			store := redis.storage(b)
			populate(b, store, n)
			for b.Loop() {
				measureScale(b, redis, store, n)
			}
		})
	}
}

// measureScale starts a list on the populated storage as a restarted
// instance does, waits until every entry is in force, then lets it poll
// at the shortest interval for a while.
func measureScale(b *testing.B, redis *scaleRedis, store certmagic.Storage, n int) {
	heap0, rss0 := memory()
	l := revocation.NewList(clock.Real{}, nil)
	sent0 := redis.info(b, "stats", "total_net_output_bytes")
	start := time.Now()
	u := l.Acquire(revocation.MinPoll, store, zap.NewNop())
	defer l.Release(u)
	for l.Count() < n {
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("%d of %d entries after 5 minutes", l.Count(), n)
		}
		time.Sleep(time.Millisecond)
	}
	startup := time.Since(start)
	startupBytes := redis.info(b, "stats", "total_net_output_bytes") - sent0
	heap1, rss1 := memory()

	// Polls with nothing new: the steady state of a fleet.
	polls0 := redis.info(b, "commandstats", "cmdstat_zrange")
	sent0 = redis.info(b, "stats", "total_net_output_bytes")
	cpu0 := cpuTime()
	time.Sleep(5 * time.Second)
	polls := redis.info(b, "commandstats", "cmdstat_zrange") - polls0
	cpu := cpuTime() - cpu0
	sent := redis.info(b, "stats", "total_net_output_bytes") - sent0
	if polls == 0 {
		b.Fatal("no poll in 5 s")
	}
	// One more entry through this instance's admin API: the index is
	// copied (its maps cloned, then patched) on every add.
	e, err := revocation.ParseRequest([]byte(`{"sub":"one_more"}`), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	addStart := time.Now()
	if err := l.Add(store, e, zap.NewNop()); err != nil {
		b.Fatal(err)
	}
	add := time.Since(addStart)
	if err := store.Delete(context.Background(), revocation.Key(e.ID)); err != nil {
		b.Fatal(err)
	}

	b.ReportMetric(float64(add.Microseconds())/1000, "add-ms")
	b.ReportMetric(startup.Seconds()*1000, "startup-ms")
	b.ReportMetric(float64(startupBytes)/(1<<20), "startup-MiB-read")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(polls), "poll-cpu-ms")
	b.ReportMetric(float64(sent)/float64(polls)/(1<<10), "poll-KiB-read")
	b.ReportMetric(float64(polls)/5, "polls/s")
	b.ReportMetric(float64(heap1-heap0)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(rss1-rss0)/(1<<20), "rss-MiB")
}
