package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The fleet tests run three real Caddy processes on one real Redis: the
// Caddy built from fleet/ (solo_auth, Caddy's standard modules and
// caddy.storage.redis) and Debian's redis-server. Nothing of Redis is
// mocked here; where redis-server is not installed the tests skip, which
// scripts/test.sh counts as a failure (.ci/run installs it).

var (
	fleetOnce sync.Once
	fleetBin  string
	fleetErr  error
)

// fleetBinary builds the fleet Caddy once per test run, with the same
// test hooks and race detector as caddyBin.
func fleetBinary(t testing.TB) string {
	t.Helper()
	fleetOnce.Do(func() {
		dir, err := os.MkdirTemp("", "solo-auth-fleet-")
		if err != nil {
			fleetErr = err
			return
		}
		fleetBin = filepath.Join(dir, "caddy-fleet")
		args := []string{"build", "-C", filepath.Join("..", "fleet"), "-tags", "soloauth_testhooks", "-o", fleetBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			fleetErr = fmt.Errorf("building the fleet caddy: %v\n%s", err, out)
		}
	})
	if fleetErr != nil {
		t.Fatal(fleetErr)
	}
	return fleetBin
}

// redisServer is a redis-server on a loopback port that the test stops
// and starts again. Its data persists across a stop (append-only file,
// fsync on every write), as a production Redis's does.
type redisServer struct {
	t    testing.TB
	bin  string
	Addr string
	port int
	dir  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *syncBuffer
}

// startRedis starts a Redis of the test's own, or skips the test, with
// the reason, where redis-server is not installed.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed: the fleet tests need a real Redis (apt-get install redis-server; .ci/run installs it)")
	}
	r := &redisServer{t: t, bin: bin, port: freePort(t), dir: t.TempDir()}
	r.Addr = fmt.Sprintf("127.0.0.1:%d", r.port)
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start starts redis-server on its port and waits until it answers.
func (r *redisServer) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd := exec.Command(r.bin, "--port", fmt.Sprint(r.port), "--bind", "127.0.0.1",
		"--dir", r.dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "",
		"--protected-mode", "no", "--daemonize", "no")
	r.log = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = r.log, r.log
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.cmd, r.exited = cmd, make(chan struct{})
	exited := r.exited
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if out, err := r.cli("PING"); err == nil && strings.TrimSpace(out) == "PONG" {
			return
		}
		select {
		case <-exited:
			r.t.Fatalf("redis-server exited at start-up:\n%s", r.log.String())
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server not answering after 20s:\n%s", r.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop shuts Redis down (SIGTERM: it flushes its append-only file) and
// waits until its port is closed.
func (r *redisServer) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(20 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
	r.cmd = nil
	for range 100 {
		c, err := net.DialTimeout("tcp", r.Addr, 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

// cli runs redis-cli against this Redis (redis-tools comes with
// redis-server).
func (r *redisServer) cli(args ...string) (string, error) {
	out, err := exec.Command("redis-cli", append([]string{"-h", "127.0.0.1", "-p", fmt.Sprint(r.port), "--raw"}, args...)...).CombinedOutput()
	return string(out), err
}

// lines is a redis-cli answer, one value per line.
func (r *redisServer) lines(t testing.TB, args ...string) []string {
	t.Helper()
	out, err := r.cli(args...)
	if err != nil {
		t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
	}
	return strings.Fields(out)
}

// revocationKeys is what Redis holds of the revocations: the stored
// values, and the members of the folder index the storage module lists.
func (r *redisServer) revocationKeys(t testing.TB) (values, listed []string) {
	t.Helper()
	return r.lines(t, "KEYS", "caddy/solo_auth/revocations/*"),
		r.lines(t, "ZRANGE", "caddy/solo_auth/revocations", "0", "-1")
}

// fleetStorage is the Caddyfile storage option for r.
func fleetStorage(r *redisServer) string {
	return "storage redis {\n\t\taddress " + r.Addr + "\n\t\ttimeout 2\n\t}"
}

// fleetSpec is an instance of the fleet: SDK tokens and WorkOS-shaped
// tokens from jwksURL, revocations polled every second, on Redis.
func fleetSpec(t testing.TB, r *redisServer, jwksURL string) spec {
	return spec{
		Bin:     fleetBinary(t),
		Storage: fleetStorage(r),
		Global: `	solo_auth {
		secret ` + secret + `
		jwks_url ` + jwksURL + `
		jwks_refresh 2s
		revocation_poll 1s
	}`,
		Site: `	solo_auth
	respond "ok {solo.sub} {solo.token_type}"`,
	}
}

// fleetWorld is what every fleet test starts from: a Redis, a JWKS
// endpoint serving key_1, and the spec of an instance on both.
func fleetWorld(t *testing.T) (*redisServer, *jwksEndpoint, spec) {
	t.Helper()
	workosKeys()
	redis := startRedis(t)
	jwks := newJWKSEndpoint(t, wkPub1)
	return redis, jwks, fleetSpec(t, redis, jwks.URL)
}

// fleetPoll is fleetSpec's revocation_poll; the contract's bound on how
// soon an entry applies on every instance is this plus a second.
const fleetPoll = time.Second

// startFleet starts n instances of s.
func startFleet(t *testing.T, s spec, n int) []*caddyProc {
	t.Helper()
	fleet := make([]*caddyProc, n)
	for i := range fleet {
		fleet[i] = startCaddy(t, s)
	}
	return fleet
}

// awaitEvery waits, up to within, until every instance answers path with
// status, and returns how long the slowest took.
func awaitEvery(t testing.TB, fleet []*caddyProc, path string, status int, within time.Duration, headers ...string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	slowest := time.Duration(0)
	for i, p := range fleet {
		for {
			r := p.get(t, path, headers...)
			if r.Status == status {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("instance %d: %d %q after %v, want %d", i, r.Status, r.Body, within, status)
			}
			time.Sleep(25 * time.Millisecond)
		}
		slowest = max(slowest, time.Since(start))
	}
	return slowest
}
