package soloauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/solo-one/caddy-solo-auth/internal/workos"
)

// webhookFlags are `caddy solo-auth webhook`'s flags.
type webhookFlags struct {
	url, secretEnv, event, id     string
	sid, user, expiresIn, eventID string
}

func webhookCommand() *cobra.Command {
	var f webhookFlags
	cmd := &cobra.Command{
		Use:   "webhook --url URL --event NAME (--sid S | --user U) [--secret-env VAR]",
		Short: "Sends a signed WorkOS test event to a running solo_auth_webhook",
		Long: `
Sends one event, signed as WorkOS signs deliveries (WorkOS-Signature:
t=<ms>, v1=<HMAC-SHA256 of "<t>.<body>">), to a solo_auth_webhook, so that
the whole path can be tried without a WorkOS account. The signing secret
is read from an environment variable (--secret-env, default
WORKOS_WEBHOOK_SECRET), never from the command line.

  export WORKOS_WEBHOOK_SECRET=whsec_...
  caddy solo-auth webhook --url http://localhost:8080/webhooks/workos \
    --event session.revoked --sid session_demo --user user_456
  caddy solo-auth webhook --url ... --event user.deleted --user user_456
  caddy solo-auth webhook --url ... --event organization_membership.updated --user user_456
`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret := os.Getenv(f.secretEnv)
			if secret == "" {
				return fmt.Errorf("--secret-env: $%s is empty", f.secretEnv)
			}
			body, err := f.body(time.Now())
			if err != nil {
				return err
			}
			req, err := http.NewRequest(http.MethodPost, f.url, bytes.NewReader(body))
			if err != nil {
				return fmt.Errorf("--url: %w", err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(workos.SignatureHeader, workos.Sign([]byte(secret), body, time.Now()))
			client := &http.Client{Timeout: 30 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			fmt.Fprintf(cmd.OutOrStdout(), "%d %s", resp.StatusCode, answer)
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("the webhook answered %d", resp.StatusCode)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "", "the webhook's URL, e.g. http://localhost:8080/webhooks/workos")
	fl.StringVar(&f.secretEnv, "secret-env", "WORKOS_WEBHOOK_SECRET", "environment variable that holds the endpoint's signing secret")
	fl.StringVar(&f.event, "event", "", "session.revoked, user.deleted, organization_membership.deleted or organization_membership.updated")
	fl.StringVar(&f.sid, "sid", "", "session.revoked: the session id (the tokens' sid claim)")
	fl.StringVar(&f.user, "user", "", "the user id (the tokens' sub claim)")
	fl.StringVar(&f.expiresIn, "expires-in", "24h", "session.revoked: how long the session had left")
	fl.StringVar(&f.eventID, "event-id", "", "the event's id (default: a new one); send one twice to see a replay answered")
	return cmd
}

// body is the event the flags describe, shaped as WorkOS sends it.
func (f *webhookFlags) body(now time.Time) ([]byte, error) {
	if f.url == "" {
		return nil, errors.New("--url: required")
	}
	id := f.eventID
	if id == "" {
		id = fmt.Sprintf("event_test_%d", now.UnixNano())
	}
	event := map[string]any{"id": id, "event": f.event, "created_at": now.UTC().Format(time.RFC3339Nano)}
	switch f.event {
	case workos.SessionRevoked:
		if f.sid == "" {
			return nil, errors.New("--sid: required for session.revoked")
		}
		left, err := time.ParseDuration(f.expiresIn)
		if err != nil || left <= 0 {
			return nil, fmt.Errorf("--expires-in: want a positive duration, got %q", f.expiresIn)
		}
		event["data"] = map[string]any{"object": "session", "id": f.sid, "user_id": f.user,
			"status": "revoked", "expires_at": now.Add(left).UTC().Format(time.RFC3339)}
	case workos.UserDeleted:
		if f.user == "" {
			return nil, errors.New("--user: required for user.deleted")
		}
		event["data"] = map[string]any{"object": "user", "id": f.user}
	case workos.OrganizationMembershipDeleted, workos.OrganizationMembershipUpdated:
		if f.user == "" {
			return nil, fmt.Errorf("--user: required for %s", f.event)
		}
		event["data"] = map[string]any{"object": "organization_membership", "id": "om_test", "user_id": f.user}
	default:
		return nil, fmt.Errorf("--event: want one of %s, got %q", strings.Join([]string{workos.SessionRevoked,
			workos.UserDeleted, workos.OrganizationMembershipDeleted, workos.OrganizationMembershipUpdated}, ", "), f.event)
	}
	return json.Marshal(event)
}
