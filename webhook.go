package soloauth

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/solo-one/caddy-solo-auth/internal/revocation"
	"github.com/solo-one/caddy-solo-auth/internal/workos"
)

func init() {
	caddy.RegisterModule(Webhook{})
	httpcaddyfile.RegisterHandlerDirective(webhookDirective, parseWebhookCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder(webhookDirective, httpcaddyfile.Before, "basic_auth")
}

const webhookDirective = "solo_auth_webhook"

// maxWebhookBody bounds a delivery; WorkOS's are a few KiB.
const maxWebhookBody = 1 << 20

// Webhook takes WorkOS's event deliveries and turns the events that end a
// user's access into revocations, which every instance sharing the
// storage applies within revocation_poll: a revoked session, a deleted
// user, a membership removed or changed. Put it on the path WorkOS posts
// to, in a site every instance serves:
//
//	handle /webhooks/workos {
//		solo_auth_webhook {
//			secret {env.WORKOS_WEBHOOK_SECRET}
//		}
//	}
type Webhook struct {
	// Secrets are the endpoint's signing secrets from the WorkOS
	// dashboard; a delivery signed with any of them is taken (several
	// while one rotates). Placeholders such as {env.X} are resolved at
	// start-up. Required. Example: `["{env.WORKOS_WEBHOOK_SECRET}"]`.
	Secrets []string `json:"secrets,omitempty"`

	secrets [][]byte
	store   revocation.Store
	logger  *zap.Logger
	now     func() time.Time
}

// CaddyModule returns the Caddy module information.
func (Webhook) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers." + webhookDirective,
		New: func() caddy.Module { return new(Webhook) },
	}
}

// Provision resolves the secrets and takes the config's storage.
func (h *Webhook) Provision(ctx caddy.Context) error {
	h.logger, h.store, h.now = ctx.Logger(), contextStorage(ctx), time.Now
	repl := caddy.NewReplacer()
	for i, s := range h.Secrets {
		v := repl.ReplaceKnown(s, "")
		if v == "" {
			return fmt.Errorf("secret: secret #%d is empty", i+1)
		}
		h.secrets = append(h.secrets, []byte(v))
	}
	if len(h.secrets) == 0 {
		return errors.New("secret: required (the endpoint's signing secret from the WorkOS dashboard)")
	}
	return registerWebhookMetrics(ctx)
}

// ServeHTTP answers a delivery: 401 for a bad or missing signature, 400
// for a stale one or a body that is not an event, 413 over 1 MiB, 503 if
// storage refuses the entry (WorkOS retries), else 200: applied,
// duplicate (applied before), ignored (an event solo_auth does not act
// on), or expired (a session that has ended, or an event past the 30-day
// cap). Nothing is stored unless the signature is good.
func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return h.answer(w, http.StatusMethodNotAllowed, "", "refused", "method not allowed")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return h.answer(w, http.StatusRequestEntityTooLarge, "", "refused", "body over 1 MiB")
		}
		return h.answer(w, http.StatusBadRequest, "", "refused", "body unreadable")
	}
	now := h.now()
	switch err := workos.Verify(r.Header.Get(workos.SignatureHeader), body, h.secrets, now); {
	case errors.Is(err, workos.ErrStale):
		return h.answer(w, http.StatusBadRequest, "", "stale", err.Error())
	case err != nil:
		return h.answer(w, http.StatusUnauthorized, "", "refused", err.Error())
	}
	event, err := workos.ParseEvent(body)
	if err != nil {
		return h.answer(w, http.StatusBadRequest, "", "invalid", err.Error())
	}
	cut, known, err := workos.CutFor(event, now)
	switch {
	case !known:
		return h.answer(w, http.StatusOK, event.Name, "ignored", "")
	case errors.Is(err, workos.ErrExpired):
		return h.answer(w, http.StatusOK, event.Name, "expired", "")
	case err != nil:
		return h.answer(w, http.StatusBadRequest, event.Name, "invalid", err.Error())
	}
	entry, err := revocation.FromEvent(event.ID, cut.Kind, cut.Value, cut.Created, cut.Until)
	if err != nil {
		return h.answer(w, http.StatusBadRequest, event.Name, "invalid", "not a WorkOS event: "+err.Error())
	}
	if !entry.Until.After(now) {
		// Older than the 30-day cap: every token it was about has
		// expired since.
		return h.answer(w, http.StatusOK, event.Name, "expired", "")
	}
	applied, err := revocations.AddOnce(h.store, entry, h.logger)
	switch {
	case err != nil:
		h.logger.Error("workos webhook: storing the event's revocation failed; WorkOS will retry",
			zap.String("event", event.Name), zap.String("event_id", event.ID), zap.Error(err))
		return h.answer(w, http.StatusServiceUnavailable, event.Name, "failed", "storage unavailable; retry later")
	case !applied:
		return h.answer(w, http.StatusOK, event.Name, "duplicate", "")
	}
	return h.answer(w, http.StatusOK, event.Name, "applied", "")
}

// answer writes the status with a JSON body, counts the event and logs
// why a delivery was refused. reason is fixed text: it never quotes the
// body, and the secret is never logged. A refusal without a good
// signature is logged at debug, so that anyone who finds the endpoint
// cannot flood the logs. A signed one is a warning: a body that cannot be
// applied, or a stale timestamp (Verify judges it only once the signature
// is good), which is a skewed clock here or a replay, and would otherwise
// lose every event silently while WorkOS retries.
func (h *Webhook) answer(w http.ResponseWriter, status int, event, outcome, reason string) error {
	name := event
	if !workos.Known(name) {
		name = "other"
	}
	webhookEvents.WithLabelValues(name, outcome).Inc()
	if reason != "" {
		level := zapcore.DebugLevel
		if outcome == "invalid" || outcome == "stale" {
			level = zapcore.WarnLevel // signed: WorkOS, or a replay of it
		}
		if ce := h.logger.Check(level, "workos webhook: delivery refused"); ce != nil {
			ce.Write(zap.Int("status", status), zap.String("event", name), zap.String("reason", reason))
		}
	}
	body := map[string]string{"outcome": outcome}
	if reason != "" {
		body["error"] = reason
	}
	return writeJSON(w, status, body)
}

// parseWebhookCaddyfile reads
//
//	solo_auth_webhook {
//		secret <signing secret>...
//	}
func parseWebhookCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	w := new(Webhook)
	return w, w.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens.
func (h *Webhook) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive
	// No error here quotes a token: a misplaced one may be the secret.
	if d.NextArg() {
		return d.Errf("%s: takes no arguments; put the secret in a block: %s { secret ... }", webhookDirective, webhookDirective)
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "secret":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("secret: want the endpoint's signing secret")
			}
			h.Secrets = append(h.Secrets, args...)
		default:
			return d.Errf("%s: unknown sub-directive (want secret)", webhookDirective)
		}
	}
	if len(h.Secrets) == 0 {
		return d.Errf("secret: required (the endpoint's signing secret from the WorkOS dashboard)")
	}
	return nil
}

// webhookEvents counts deliveries by event name (the four solo_auth acts
// on, or "other") and outcome.
var webhookEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy",
	Subsystem: "solo_auth",
	Name:      "webhook_events_total",
	Help:      "WorkOS webhook deliveries by event (session.revoked, user.deleted, organization_membership.deleted, organization_membership.updated, other) and outcome (applied, duplicate, ignored, expired, refused, stale, invalid, failed).",
}, []string{"event", "outcome"})

func registerWebhookMetrics(ctx caddy.Context) error {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	if err := reg.Register(webhookEvents); err != nil {
		var already prometheus.AlreadyRegisteredError
		if !errors.As(err, &already) {
			return err
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Webhook)(nil)
	_ caddyhttp.MiddlewareHandler = (*Webhook)(nil)
	_ caddyfile.Unmarshaler       = (*Webhook)(nil)
)
