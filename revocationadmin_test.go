package soloauth

import (
	"encoding/json"
	stdjson "encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/solo-one/caddy-solo-auth/internal/clock"
	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/revocation"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// testAdmin is the admin API on a list and storage of its own.
func testAdmin(t *testing.T) (*adminRevocations, *tu.Storage, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	store := tu.NewStorage()
	return &adminRevocations{list: revocation.NewList(clock.Real{}, nil), store: store, logger: zap.New(core)}, store, logs
}

// call runs one admin request; an error is answered with its status, as
// Caddy's admin server does ({"error": ...}).
func (a *adminRevocations) call(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	err := a.serve(w, httptest.NewRequest(method, path, strings.NewReader(body)))
	if err != nil {
		var apiErr caddy.APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("%s %s: not an APIError: %v", method, path, err)
		}
		return apiErr.HTTPStatus, err.Error()
	}
	return w.Code, w.Body.String()
}

func (a *adminRevocations) list_(t *testing.T) []map[string]any {
	t.Helper()
	status, body := a.call(t, http.MethodGet, "/solo_auth/revocations", "")
	if status != http.StatusOK {
		t.Fatalf("GET: %d %s", status, body)
	}
	var out struct {
		Revocations []map[string]any `json:"revocations"`
		Storage     map[string]any   `json:"storage"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || out.Revocations == nil || out.Storage == nil {
		t.Fatalf("GET body %s: %v", body, err)
	}
	return out.Revocations
}

// TestAdminRevocationsBadInput: every bad input is a 400 that changes
// nothing, in memory or in storage.
func TestAdminRevocationsBadInput(t *testing.T) {
	a, store, _ := testAdmin(t)
	if status, body := a.call(t, http.MethodPost, "/solo_auth/revocations", `{"sub":"keep"}`); status != http.StatusCreated {
		t.Fatalf("POST: %d %s", status, body)
	}
	before, keys := a.list_(t), store.Keys()
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	far := time.Now().Add(31 * 24 * time.Hour).UTC().Format(time.RFC3339)
	for _, body := range []string{``, `nope`, `{"sub":"a"`, `[]`, `{}`, `{"sub":"a","sid":"b"}`, `{"sub":1}`,
		`{"sub":"a","extra":true}`, `{"token_sha256":"xyz"}`, `{"token_sha256":"` + strings.Repeat("a", 63) + `"}`,
		`{"sub":"a","until":"` + past + `"}`, `{"sub":"a","until":"` + far + `"}`, `{"sub":""}`, `{"jti":""}`,
		`{"sub":"a","until":"next week"}`, `{"sub":"a","sid":null}`, `{"sub":"a","until":null}`} {
		if status, msg := a.call(t, http.MethodPost, "/solo_auth/revocations", body); status != http.StatusBadRequest {
			t.Errorf("POST %s: %d %s, want 400", body, status, msg)
		}
	}
	if after := a.list_(t); len(after) != len(before) || after[0]["id"] != before[0]["id"] {
		t.Errorf("bad input changed the list: %v -> %v", before, after)
	}
	if got := store.Keys(); !slices.Equal(got, keys) {
		t.Errorf("bad input changed storage: %v -> %v", keys, got)
	}
}

// TestAdminRevocationsAPI: the 201 shape, the list, lifting, 404s and
// 405s, and a 503 that changes nothing when storage refuses.
func TestAdminRevocationsAPI(t *testing.T) {
	a, store, logs := testAdmin(t)
	hash := strings.Repeat("AB", 32)
	status, body := a.call(t, http.MethodPost, "/solo_auth/revocations", `{"token_sha256":"`+hash+`","until":"`+
		time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`)
	if status != http.StatusCreated {
		t.Fatalf("POST: %d %s", status, body)
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(body), &entry); err != nil {
		t.Fatal(err)
	}
	var members []string
	for k := range entry {
		members = append(members, k)
	}
	slices.Sort(members)
	if !slices.Equal(members, []string{"created", "id", "token_sha256", "until"}) || entry["token_sha256"] != strings.ToLower(hash) {
		t.Errorf("201 body %s", body)
	}
	for _, k := range []string{"created", "until"} {
		if _, err := time.Parse(time.RFC3339, entry[k].(string)); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	id := entry["id"].(string)
	if got := a.list_(t); len(got) != 1 || got[0]["id"] != id {
		t.Errorf("GET lists %v", got)
	}
	if status, body := a.call(t, http.MethodGet, "/solo_auth/revocations/", ""); status != http.StatusOK || !strings.Contains(body, id) {
		t.Errorf("GET with a trailing slash: %d %s", status, body)
	}
	if keys := store.Keys(); !slices.Equal(keys, []string{revocation.Key(id)}) {
		t.Errorf("storage holds %v", keys)
	}
	added := logs.FilterMessage("revocation added").All()
	if len(added) != 1 || added[0].ContextMap()["id"] != id || added[0].ContextMap()["kind"] != "token_sha256" {
		t.Errorf("logged %v", added)
	}

	for _, tt := range []struct{ method, path string }{
		{http.MethodPut, "/solo_auth/revocations"}, {http.MethodDelete, "/solo_auth/revocations"},
		{http.MethodGet, "/solo_auth/revocations/" + id}, {http.MethodPost, "/solo_auth/revocations/" + id},
	} {
		if status, _ := a.call(t, tt.method, tt.path, ""); status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d, want 405", tt.method, tt.path, status)
		}
	}
	for _, missing := range []string{"0000000000000000", "nope", "../../etc", strings.ToUpper(id)} {
		if status, _ := a.call(t, http.MethodDelete, "/solo_auth/revocations/"+missing, ""); status != http.StatusNotFound {
			t.Errorf("DELETE %s: %d, want 404", missing, status)
		}
	}

	store.Set(func(s *tu.Storage) { s.FailDelete = errors.New("down") })
	if status, _ := a.call(t, http.MethodDelete, "/solo_auth/revocations/"+id, ""); status != http.StatusServiceUnavailable {
		t.Errorf("DELETE on failing storage: %d, want 503", status)
	}
	store.Set(func(s *tu.Storage) { s.FailDelete, s.FailStore = nil, errors.New("down") })
	if status, _ := a.call(t, http.MethodPost, "/solo_auth/revocations", `{"sub":"x"}`); status != http.StatusServiceUnavailable {
		t.Errorf("POST on failing storage: %d, want 503", status)
	}
	if got := a.list_(t); len(got) != 1 {
		t.Errorf("a 503 changed the list: %v", got)
	}
	status, body = a.call(t, http.MethodDelete, "/solo_auth/revocations/"+id, "")
	if status != http.StatusOK || !strings.Contains(body, `"id":"`+id+`"`) {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	if got := a.list_(t); len(got) != 0 {
		t.Errorf("still listed after the lift: %v", got)
	}
	if status, _ := a.call(t, http.MethodDelete, "/solo_auth/revocations/"+id, ""); status != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", status)
	}
	if lifted := logs.FilterMessage("revocation lifted").All(); len(lifted) != 1 {
		t.Errorf("lift logged %d times", len(lifted))
	}
}

// TestHandlerRevoked: a cached token is refused from the moment the
// POST returns, as Invalid token with reason revoked (log, metric,
// report_only's {solo.error_reason}); a token minted in a later second
// by the same subject passes.
func TestHandlerRevoked(t *testing.T) {
	a, _, _ := testAdmin(t)
	var cacheHits atomic.Int64
	v := &jwt.Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}, Leeway: 30 * time.Second, // the leeway lets a token minted "later" pass now
		ObserveCache: func(hit bool) {
			if hit {
				cacheHits.Add(1)
			}
		}}
	v.EnableCache(100)
	core, logs := observer.New(zapcore.DebugLevel)
	m := testHandler(v, nil)
	m.logger, m.revocations = zap.New(core), a.list
	report := testHandler(v, nil)
	report.ReportOnly, report.revocations = true, a.list

	now := time.Now()
	token := tu.HS256(tu.SecretA, tu.SDKClaims("alice").With("iat", now.Add(-time.Minute).Unix()))
	get := func(h *SoloAuth, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		return serve(t, r, h)
	}
	for range 3 { // cached from the second on
		expectResponse(t, get(m, token), 200, "passed alice", "")
	}
	if cacheHits.Load() != 1 { // admitted on its second sighting, found on its third
		t.Fatalf("the token is not cached: %d cache hits in 3 requests", cacheHits.Load())
	}
	before := tu.CounterValue(t, requestCounters[[2]string{outcomeRevoked, jwt.TokenTypeSDK}])
	if status, body := a.call(t, http.MethodPost, "/solo_auth/revocations", `{"sub":"alice"}`); status != http.StatusCreated {
		t.Fatalf("POST: %d %s", status, body)
	}
	expectResponse(t, get(m, token), 401, `{"detail":"Invalid token"}`, `Bearer error="invalid_token"`)
	if got := tu.CounterValue(t, requestCounters[[2]string{outcomeRevoked, jwt.TokenTypeSDK}]) - before; got != 1 {
		t.Errorf("revoked outcomes counted: %v", got)
	}
	refused := logs.FilterMessage("request refused").All()
	if len(refused) != 1 || refused[0].ContextMap()["reason"] != revocation.ReasonRevoked {
		t.Errorf("refusal log %v", refused)
	}

	// report_only passes it, with the reason in {solo.error_reason}.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	repl := caddy.NewReplacer()
	r = caddyhttp.PrepareRequest(r, repl, w, &caddyhttp.Server{})
	err := report.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		_, err := w.Write([]byte(repl.ReplaceKnown("sub=[{solo.sub}] error=[{solo.error}] reason=[{solo.error_reason}]", "")))
		return err
	}))
	if err != nil || w.Body.String() != "sub=[] error=[Invalid token] reason=[revoked]" {
		t.Errorf("report_only: %v %q", err, w.Body.String())
	}

	// A token minted in a later second works; one without iat does not.
	later := tu.HS256(tu.SecretA, tu.SDKClaims("alice").With("iat", now.Add(2*time.Second).Unix()))
	expectResponse(t, get(m, later), 200, "passed alice", "")
	noIat := tu.HS256(tu.SecretA, tu.SDKClaims("alice").With("iat", nil))
	expectResponse(t, get(m, noIat), 401, `{"detail":"Invalid token"}`, `Bearer error="invalid_token"`)
	expectResponse(t, get(m, tu.HS256(tu.SecretA, tu.SDKClaims("bob"))), 200, "passed bob", "")
}

// TestAdminRevocationLiftStorageError: lifting an entry not known here
// (made on another instance) when storage fails to read it is a 503, not
// a 404: the entry may well exist. A missing one is a 404.
func TestAdminRevocationLiftStorageError(t *testing.T) {
	a, store, _ := testAdmin(t)
	e := parsedRevocation(t, `{"sub":"elsewhere"}`, time.Now())
	if err := revocation.NewList(clock.Real{}, nil).Add(store, e, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	store.Set(func(s *tu.Storage) { s.FailLoad = errors.New("read timeout") })
	if status, body := a.call(t, http.MethodDelete, "/solo_auth/revocations/"+e.ID, ""); status != http.StatusServiceUnavailable {
		t.Errorf("DELETE while storage cannot read: %d %s, want 503", status, body)
	}
	store.Set(func(s *tu.Storage) { s.FailLoad = nil })
	if status, body := a.call(t, http.MethodDelete, "/solo_auth/revocations/00000000000000ff", ""); status != http.StatusNotFound {
		t.Errorf("DELETE of a missing entry: %d %s, want 404", status, body)
	}
	if status, body := a.call(t, http.MethodDelete, "/solo_auth/revocations/"+e.ID, ""); status != http.StatusOK {
		t.Errorf("DELETE once storage reads again: %d %s", status, body)
	}
}

// TestRevocationReadFailuresCounted: the process's list counts each
// failed read of its storage in
// caddy_solo_auth_revocation_storage_failures_total (the callback the
// root hands revocation.NewList).
func TestRevocationReadFailuresCounted(t *testing.T) {
	store := tu.NewStorage()
	store.Set(func(s *tu.Storage) { s.FailList = errors.New("storage down") })
	before := tu.CounterValue(t, revocationReadFailures)
	u := revocations.Acquire(time.Hour, store, zap.NewNop()) // reads storage before it returns
	defer revocations.Release(u)
	if got := tu.CounterValue(t, revocationReadFailures) - before; got != 1 {
		t.Errorf("failures counted: %v, want 1", got)
	}
}

// TestWriteJSONAsBefore: the admin API's answers, now in JSON v2 like
// storage, are byte for byte what encoding/json wrote before (sorted keys,
// HTML and JS line separators escaped); invalid UTF-8 from a storage error
// is replaced as before, written as the character where encoding/json
// wrote \ufffd.
func TestWriteJSONAsBefore(t *testing.T) {
	e := parsedRevocation(t, `{"sub":"<a&b>\u2028c"}`, time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC))
	_, st := revocation.NewList(clock.Real{}, nil).Snapshot()
	st.LastError = "read <timeout> & gave up"
	write := func(v any) string {
		t.Helper()
		rec := httptest.NewRecorder()
		if err := writeJSON(rec, http.StatusOK, v); err != nil {
			t.Fatal(err)
		}
		return rec.Body.String()
	}
	for name, v := range map[string]any{
		"entry": e,
		"list":  map[string]any{"revocations": []*revocation.Entry{e}, "storage": st},
		"empty": map[string]any{"revocations": []*revocation.Entry{}, "storage": st},
	} {
		want, err := stdjson.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := write(v); got != string(want)+"\n" {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	st.LastError = "read \xff failed"
	var back struct {
		LastError string `json:"last_error"`
	}
	if err := stdjson.Unmarshal([]byte(write(st)), &back); err != nil || back.LastError != "read \ufffd failed" {
		t.Errorf("invalid UTF-8: %q, %v", back.LastError, err)
	}
}
