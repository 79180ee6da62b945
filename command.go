package soloauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "solo-auth",
		Usage: "token|inspect|keygen|revoke|webhook [flags]",
		Short: "Mints and inspects solo_auth tokens for local development",
		Long: `
Mints SDK tokens (HS256) and WorkOS-shaped tokens (RS256) for local
development, and shows what solo_auth would decide for a token.

The secret is read from an environment variable (--secret-env, default
SOLO_SDK_SECRET) or a file (--secret-file), never from the command line,
so that it stays out of shell history and process lists.

  export SOLO_SDK_SECRET=$(head -c 32 /dev/urandom | base64)
  caddy solo-auth token --sub user_123 --permissions templates:read,admin
  caddy solo-auth inspect --scopes admin "$TOKEN"

keygen writes an RSA key pair whose public half a route trusts as a JWK
set, so that the WorkOS path can be tried without a WorkOS account:

  caddy solo-auth keygen --kid dev-1 --key dev.key --jwks dev-jwks.json
  caddy solo-auth token --rs256 --key dev.key --kid dev-1 --sub user_123
  caddy solo-auth inspect --jwks-file dev-jwks.json "$TOKEN"
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(tokenCommand(), inspectCommand(), keygenCommand(), revokeCommand(), webhookCommand())
		},
	})
}

type secretFlags struct {
	env  string
	file string
}

func (s *secretFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.env, "secret-env", "SOLO_SDK_SECRET", "environment variable that holds the HS256 secret")
	cmd.Flags().StringVar(&s.file, "secret-file", "", "file that holds the HS256 secret (one trailing newline is ignored)")
}

func (s *secretFlags) load() ([]byte, error) {
	var secret string
	if s.file != "" {
		data, err := os.ReadFile(s.file)
		if err != nil {
			return nil, fmt.Errorf("secret file: %w", err)
		}
		secret = strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	} else {
		secret = os.Getenv(s.env)
		if secret == "" {
			return nil, fmt.Errorf("environment variable %s is empty; set it or use --secret-file", s.env)
		}
	}
	if len(secret) < MinSecretLength {
		return nil, fmt.Errorf("secret is %d bytes; solo_auth needs at least %d", len(secret), MinSecretLength)
	}
	return []byte(secret), nil
}

// segmentText decodes a token segment for display, whatever its state.
func segmentText(seg string) string {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return "(not base64url: " + err.Error() + ")"
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return fmt.Sprintf("(not JSON: %d bytes)", len(raw))
	}
	pretty, _ := json.Marshal(v)
	return string(pretty)
}

// decide says what solo_auth would answer, in the words of its responses.
func decide(v *jwt.Verifier, token string, scopes []string) string {
	id, err := v.Verify(token)
	if err != nil {
		kind := jwt.KindInvalid
		var verr *jwt.VerifyError
		if errors.As(err, &verr) {
			kind = verr.Kind
		}
		r := responseFor(kind)
		return fmt.Sprintf("%d %s (%v)", r.status, r.detail, err)
	}
	if missing := missingScopes(scopes, id.Scopes); missing != nil {
		return fmt.Sprintf("403 Not enough permissions (missing %s)", strings.Join(missing, " "))
	}
	return fmt.Sprintf("pass: sub=%s token_type=%s permissions=%s expires=%s",
		id.Subject, id.TokenType, strings.Join(id.Scopes, ","), id.ExpiresAt.UTC().Format(time.RFC3339))
}
