// Package integration runs a real Caddy binary, built from cmd/caddy with
// the plugin, and talks to it over loopback HTTP.
package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// caddyBin is the Caddy built for this test run.
var caddyBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "solo-auth-caddy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	caddyBin = filepath.Join(dir, "caddy")
	// The test hooks (testhooks.go) let a test shorten timings that a
	// production build fixes, such as the unknown-kid window; they are
	// set per Caddy through its environment (spec.Env).
	args := []string{"build", "-tags", "soloauth_testhooks", "-o", caddyBin}
	if raceEnabled {
		// The plugin's concurrency is exercised under the race
		// detector in the real server too, not only in unit tests.
		args = append(args, "-race")
	}
	args = append(args, "github.com/solo-one/caddy-solo-auth/cmd/caddy")
	build := exec.Command("go", args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building caddy:", err)
		return 1
	}
	return m.Run()
}

// windowEnv is the test hook's variable for the unknown-kid window.
const windowEnv = "SOLO_AUTH_TEST_JWKS_MIN_INTERVAL"

// caddyEnviron is this process's environment for a Caddy, without the
// test hooks' variables: a Caddy gets a hook only from its own spec, so
// that a variable left in a developer's shell cannot change what the
// tests that rely on the production timings see.
func caddyEnviron() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, windowEnv+"=")
	})
}

// withWindow is s with the unknown-kid window (30 s in production) set
// to d through the test hook.
func withWindow(s spec, d time.Duration) spec {
	s.Env = append(slices.Clip(s.Env), windowEnv+"="+d.String())
	return s
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// spec describes a Caddy to start. Global goes inside the global options
// block, Site inside the block of the site under test, Extra after it
// (other site blocks). Env is added to Caddy's environment; Caddyfile
// text may use it as {$NAME} or {env.NAME}.
type spec struct {
	Global string
	Site   string
	Extra  string
	Env    []string
	// DataDir, if set, is Caddy's storage and data folder, so that two
	// runs can share it; otherwise each run gets a fresh one.
	DataDir string
	// Storage, if set, replaces the global storage option (by default
	// file_system in DataDir), e.g. "storage redis { ... }".
	Storage string
	// Bin, if set, is the Caddy binary to run instead of caddyBin (the
	// fleet tests' Caddy with the Redis storage module).
	Bin string
}

// caddyProc is a running Caddy.
type caddyProc struct {
	t       testing.TB
	cmd     *exec.Cmd
	URL     string // the site under test, e.g. http://127.0.0.1:1234
	Admin   string // the admin endpoint, e.g. http://127.0.0.1:1235
	Dir     string
	out     *syncBuffer
	exited  chan struct{}
	stopped bool

	sitePort, adminPort int
}

// Caddyfile renders the full Caddyfile of a spec for the given ports.
func (s spec) caddyfile(sitePort, adminPort int, dataDir string) string {
	storage := s.Storage
	if storage == "" {
		storage = "storage file_system " + filepath.Join(dataDir, "storage")
	}
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	persist_config off
	%s
	log {
		output stderr
		format json
		level DEBUG
	}
%s
}

http://127.0.0.1:%d {
%s
}

%s
`, adminPort, storage, s.Global, sitePort, s.Site, s.Extra)
}

// startCaddy starts Caddy from a spec and waits until it serves.
func startCaddy(t testing.TB, s spec) *caddyProc {
	t.Helper()
	p, err := launch(t, s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func launch(t testing.TB, s spec) (*caddyProc, error) {
	t.Helper()
	dir := s.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	sitePort, adminPort := freePort(t), freePort(t)
	cfgPath := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(s.caddyfile(sitePort, adminPort, dir)), 0o600); err != nil {
		return nil, err
	}
	bin := s.Bin
	if bin == "" {
		bin = caddyBin
	}
	cmd := exec.Command(bin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	cmd.Env = append(caddyEnviron(),
		"HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.Env = append(cmd.Env, s.Env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &caddyProc{
		t: t, cmd: cmd, out: out, Dir: dir, exited: make(chan struct{}),
		URL:      fmt.Sprintf("http://127.0.0.1:%d", sitePort),
		Admin:    fmt.Sprintf("http://127.0.0.1:%d", adminPort),
		sitePort: sitePort, adminPort: adminPort,
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.Stop)
	if err := p.waitReady(sitePort); err != nil {
		return nil, err
	}
	// The port answering is not proof that this Caddy does: freePort's
	// port may have gone to another test's Caddy meanwhile, and this one
	// then exits on the bind. This Caddy has started once it says so
	// (its log goes to stderr, spec.caddyfile).
	if err := p.waitLog("serving initial configuration"); err != nil {
		return nil, err
	}
	return p, nil
}

// waitLog waits until Caddy's output holds s, failing if Caddy exits.
func (p *caddyProc) waitLog(s string) error {
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(p.out.String(), s) {
		select {
		case <-p.exited:
			return fmt.Errorf("caddy exited at start-up:\n%s", p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("caddy did not log %q within 60s:\n%s", s, p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

func (p *caddyProc) waitReady(port int) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("caddy exited at start-up:\n%s", p.out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("caddy not serving after 60s:\n%s", p.out.String())
}

// Stop ends Caddy gracefully and fails the test if the race detector
// reported anything while it ran.
func (p *caddyProc) Stop() {
	if p.stopped {
		return
	}
	p.stopped = true
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	if out := p.out.String(); strings.Contains(out, "WARNING: DATA RACE") {
		p.t.Errorf("data race in caddy:\n%s", out)
	}
}

// reload loads a new config through the admin API, on the same ports and
// storage, as an operator's `caddy reload` does. Caddy replaces its admin
// listener on every load, so a connection can be refused for a moment
// after the previous load: the same (idempotent) load is tried again.
func (p *caddyProc) reload(t testing.TB, s spec) {
	t.Helper()
	if status, body := p.tryReload(t, s); status != http.StatusOK {
		t.Fatalf("reload: %d %s", status, body)
	}
}

// tryReload is reload that returns the admin API's answer to the load
// instead of failing the test on a refusal.
func (p *caddyProc) tryReload(t testing.TB, s spec) (int, string) {
	t.Helper()
	cf := s.caddyfile(p.sitePort, p.adminPort, p.Dir)
	var lastErr error
	for range 50 {
		req, err := http.NewRequest(http.MethodPost, p.Admin+"/load", strings.NewReader(cf))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "text/caddyfile")
		req.Close = true
		resp, err := client.Do(req)
		if err != nil {
			lastErr = err
			time.Sleep(20 * time.Millisecond)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// The old server closes its idle connections; a request reusing
		// one in that instant would fail for a reason no user sees.
		client.CloseIdleConnections()
		return resp.StatusCode, string(body)
	}
	t.Fatalf("reload: %v", lastErr)
	return 0, ""
}

// runConfigFile starts Caddy on a config file of its own (a Caddyfile, or
// JSON when adapter is ""), serving on port, with env added, and waits
// until it serves.
func runConfigFile(t *testing.T, path, adapter string, port int, env ...string) *caddyProc {
	t.Helper()
	return runBinConfigFile(t, caddyBin, path, adapter, port, env...)
}

// runBinConfigFile is runConfigFile with another Caddy binary.
func runBinConfigFile(t *testing.T, bin, path, adapter string, port int, env ...string) *caddyProc {
	t.Helper()
	dir := t.TempDir()
	args := []string{"run", "--config", path}
	if adapter != "" {
		args = append(args, "--adapter", adapter)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(caddyEnviron(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	cmd.Env = append(cmd.Env, env...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &caddyProc{t: t, cmd: cmd, out: logs, exited: make(chan struct{}), URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.Stop)
	if err := p.waitReady(port); err != nil {
		t.Fatal(err)
	}
	return p
}

// recordingBackend is a backend on loopback that answers "backend" and
// keeps the headers of every request it gets.
type recordingBackend struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func newRecordingBackend(t *testing.T) *recordingBackend {
	b := &recordingBackend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.seen = append(b.seen, r.Header.Clone())
		b.mu.Unlock()
		w.Write([]byte("backend"))
	}))
	t.Cleanup(b.Close)
	return b
}

// requests returns the headers of the requests received so far.
func (b *recordingBackend) requests() []http.Header {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.seen)
}

// Logs is everything Caddy has written so far.
func (p *caddyProc) Logs() string { return p.out.String() }

// runCaddyExpectFailure runs Caddy with a config that must not start and
// returns what it printed.
func runCaddyExpectFailure(t *testing.T, s spec) string {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(s.caddyfile(freePort(t), freePort(t), dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, caddyBin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	cmd.Env = append(caddyEnviron(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	cmd.Env = append(cmd.Env, s.Env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("caddy kept running with a bad config:\n%s", out)
	}
	if err == nil {
		t.Fatalf("caddy exited 0 with a bad config:\n%s", out)
	}
	return string(out)
}

// reply is a response with its body read.
type reply struct {
	Status int
	Header http.Header
	Body   string
}

var client = &http.Client{Timeout: 30 * time.Second}

// get sends a GET to path with the given header lines ("Name: value"; a
// name may repeat).
func (p *caddyProc) get(t testing.TB, path string, headers ...string) reply {
	t.Helper()
	return p.do(t, http.MethodGet, path, headers...)
}

func (p *caddyProc) do(t testing.TB, method, path string, headers ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, p.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Add(name, strings.TrimPrefix(value, " "))
	}
	return send(t, req)
}

func send(t testing.TB, req *http.Request) reply {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

func bearer(token string) string { return "Authorization: Bearer " + token }

// The contract's refusals: status, body and WWW-Authenticate.
type refusal struct {
	status    int
	body      string
	challenge string // "" for none
}

var (
	notAuthenticated = refusal{401, `{"detail":"Not authenticated"}`, "Bearer"}
	invalidToken     = refusal{401, `{"detail":"Invalid token"}`, `Bearer error="invalid_token"`}
	tokenExpired     = refusal{401, `{"detail":"Token has expired"}`,
		`Bearer error="invalid_token", error_description="The token has expired"`}
	unavailable = refusal{503, `{"detail":"Authentication service unavailable"}`, ""}
)

func forbidden(scopes string) refusal {
	return refusal{403, `{"detail":"Not enough permissions"}`,
		`Bearer error="insufficient_scope", scope="` + scopes + `"`}
}

// expectRefusal checks a response against a refusal exactly.
func expectRefusal(t testing.TB, r reply, want refusal) {
	t.Helper()
	if r.Status != want.status {
		t.Errorf("status %d, want %d (body %q)", r.Status, want.status, r.Body)
	}
	if r.Body != want.body {
		t.Errorf("body %q, want %q", r.Body, want.body)
	}
	if ct := r.Header.Values("Content-Type"); len(ct) != 1 || ct[0] != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	got := r.Header.Values("Www-Authenticate")
	switch {
	case want.challenge == "" && len(got) != 0:
		t.Errorf("WWW-Authenticate %q, want none", got)
	case want.challenge != "" && (len(got) != 1 || got[0] != want.challenge):
		t.Errorf("WWW-Authenticate %q, want %q", got, want.challenge)
	}
	if ra := r.Header.Get("Retry-After"); (want.status == 503) != (ra != "") {
		t.Errorf("Retry-After %q on a %d", ra, r.Status)
	}
}

// expectPass checks that a request reached the handler after solo_auth.
func expectPass(t testing.TB, r reply, body string) {
	t.Helper()
	if r.Status != 200 || r.Body != body {
		t.Errorf("got %d %q, want 200 %q", r.Status, r.Body, body)
	}
	if v := r.Header.Get("Www-Authenticate"); v != "" {
		t.Errorf("WWW-Authenticate %q on a passed request", v)
	}
}

// soloAuth runs `caddy solo-auth <args>` with the harness's Caddy, as a
// user would, in an environment without an SDK secret.
func soloAuth(t testing.TB, args ...string) (stdout, stderr string, err error) {
	return soloAuthEnv(t, nil, args...)
}

// soloAuthEnv is soloAuth with env (NAME=value) added to the environment.
func soloAuthEnv(t testing.TB, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, caddyBin, append([]string{"solo-auth"}, args...)...)
	home := t.TempDir()
	cmd.Env = append(slices.DeleteFunc(caddyEnviron(), func(kv string) bool {
		return strings.HasPrefix(kv, "SOLO_SDK_SECRET=")
	}), "HOME="+home, "XDG_DATA_HOME="+home, "XDG_CONFIG_HOME="+home)
	cmd.Env = append(cmd.Env, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// mustSoloAuth is soloAuth that fails the test unless the command
// succeeds, and returns what it printed, trimmed.
func mustSoloAuth(t testing.TB, args ...string) string {
	return mustSoloAuthEnv(t, nil, args...)
}

// mustSoloAuthEnv is mustSoloAuth with env added to the environment.
func mustSoloAuthEnv(t testing.TB, env []string, args ...string) string {
	t.Helper()
	out, errOut, err := soloAuthEnv(t, env, args...)
	if err != nil {
		t.Fatalf("caddy solo-auth %q: %v\n%s", args, err, errOut)
	}
	return strings.TrimSpace(out)
}
