package soloauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "solo-auth",
		Usage: "token|inspect [flags]",
		Short: "Mints and inspects solo_auth tokens for local development",
		Long: `
Mints SDK tokens (HS256) for local development, and shows what solo_auth
would decide for a token.

The secret is read from an environment variable (--secret-env, default
SOLO_SDK_SECRET) or a file (--secret-file), never from the command line,
so that it stays out of shell history and process lists.

  export SOLO_SDK_SECRET=$(head -c 32 /dev/urandom | base64)
  caddy solo-auth token --sub user_123 --permissions templates:read,admin
  caddy solo-auth inspect --scopes admin "$TOKEN"
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(tokenCommand(), inspectCommand(), revokeCommand())
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

func tokenCommand() *cobra.Command {
	var (
		secret          secretFlags
		sub             string
		permissions     []string
		lifetime        time.Duration
		workflowID      string
		stakeholderName string
		stakeholderType string
		extra           []string
	)
	cmd := &cobra.Command{
		Use:   "token --sub <subject> [--permissions a,b] [--lifetime 1h] [--claim name=value]...",
		Short: "Mints an SDK token (HS256) and prints it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := secret.load()
			if err != nil {
				return err
			}
			if sub == "" {
				return errors.New("--sub is required")
			}
			now := time.Now()
			claims := map[string]any{
				"sub":         sub,
				"iat":         now.Unix(),
				"exp":         now.Add(lifetime).Unix(),
				"permissions": append([]string{}, permissions...),
			}
			setIf(claims, claimWorkflowID, workflowID)
			setIf(claims, claimStakeholderName, stakeholderName)
			setIf(claims, claimStakeholderType, stakeholderType)
			for _, kv := range extra {
				name, value, ok := strings.Cut(kv, "=")
				if !ok || name == "" {
					return fmt.Errorf("--claim %q: want name=value", kv)
				}
				var v any = value
				if json.Valid([]byte(value)) {
					_ = json.Unmarshal([]byte(value), &v)
				}
				claims[name] = v
			}
			token, err := mintHS256(key, claims)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), token)
			return nil
		},
	}
	secret.register(cmd)
	f := cmd.Flags()
	f.StringVar(&sub, "sub", "", "subject (required)")
	f.StringSliceVar(&permissions, "permissions", nil, "permissions, comma-separated")
	f.DurationVar(&lifetime, "lifetime", time.Hour, "time until the token expires")
	f.StringVar(&workflowID, "workflow-id", "", "claim "+claimWorkflowID)
	f.StringVar(&stakeholderName, "stakeholder-name", "", "claim "+claimStakeholderName)
	f.StringVar(&stakeholderType, "stakeholder-type", "", "claim "+claimStakeholderType)
	f.StringArrayVar(&extra, "claim", nil, "any other claim, name=value; a JSON value is kept as JSON")
	return cmd
}

func setIf(claims map[string]any, name, value string) {
	if value != "" {
		claims[name] = value
	}
}

func mintHS256(secret []byte, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func inspectCommand() *cobra.Command {
	var (
		secret   secretFlags
		scopes   []string
		leeway   time.Duration
		jwksURL  string
		clientID string
		types    []string
	)
	cmd := &cobra.Command{
		Use:   "inspect [--scopes a,b] [--token-types sdk|workos] [--workos-client-id id | --jwks-url url] <token | ->",
		Short: "Shows a token's header and claims and what solo_auth would decide for it",
		Long: "Shows a token's header and claims (never its signature) and the response " +
			"solo_auth would give it on a route requiring --scopes, verifying HS256 tokens " +
			"with the secret from --secret-env or --secret-file, and RS256 tokens with the keys fetched once " +
			"from --jwks-url (or the URL of --workos-client-id). A token of '-' is read from standard input.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			token := args[0]
			if token == "-" {
				data, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), MaxTokenSize+1))
				if err != nil {
					return err
				}
				token = strings.TrimSpace(string(data))
			}
			out := cmd.OutOrStdout()
			segments := strings.Split(token, ".")
			for i, name := range []string{"header", "claims"} {
				if i >= len(segments) {
					break
				}
				fmt.Fprintf(out, "%s: %s\n", name, segmentText(segments[i]))
			}
			v := &Verifier{Leeway: leeway}
			if key, err := secret.load(); err == nil {
				v.Secrets = [][]byte{key}
			} else {
				fmt.Fprintf(out, "note: no secret (%v); HS256 tokens will be refused\n", err)
			}
			if clientID != "" && jwksURL == "" {
				jwksURL = WorkOSJWKSBase + url.PathEscape(clientID)
			}
			// As on a route with token_types: a kind left out has no key.
			var err error
			if v.Secrets, jwksURL, err = (&SoloAuth{TokenTypes: types}).limitToTokenTypes(v.Secrets, jwksURL); err != nil {
				return err
			}
			if jwksURL != "" {
				ks := newKeySet(keySetConfig{URL: jwksURL, Refresh: DefaultJWKSRefresh})
				call := ks.fetch()
				<-call.done
				if call.err != nil {
					fmt.Fprintf(out, "note: %v; RS256 tokens will be refused\n", call.err)
				} else {
					v.RSAKeys = ks
				}
			}
			fmt.Fprintf(out, "decision: %s\n", decide(v, token, scopes))
			return nil
		},
	}
	secret.register(cmd)
	cmd.Flags().StringSliceVar(&scopes, "scopes", nil, "scopes the route requires, comma-separated")
	cmd.Flags().DurationVar(&leeway, "leeway", DefaultLeeway, "clock skew allowed on exp, nbf and iat")
	cmd.Flags().StringVar(&jwksURL, "jwks-url", "", "JWKS to verify RS256 tokens with, fetched once")
	cmd.Flags().StringVar(&clientID, "workos-client-id", "", "WorkOS client ID whose JWKS verifies RS256 tokens")
	cmd.Flags().StringSliceVar(&types, "token-types", nil, "the token kinds the route accepts (sdk, workos), as token_types")
	return cmd
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
func decide(v *Verifier, token string, scopes []string) string {
	id, err := v.Verify(token)
	if err != nil {
		kind := KindInvalid
		var verr *VerifyError
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
