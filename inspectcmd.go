package soloauth

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/keys"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func inspectCommand() *cobra.Command {
	var (
		secret   secretFlags
		scopes   []string
		leeway   time.Duration
		jwksURL  string
		clientID string
		jwksFile string
		types    []string
	)
	cmd := &cobra.Command{
		Use:   "inspect [--scopes a,b] [--token-types sdk|workos] [--workos-client-id id | --jwks-url url | --jwks-file file] <token | ->",
		Short: "Shows a token's header and claims and what solo_auth would decide for it",
		Long: "Shows a token's header and claims (never its signature) and the response " +
			"solo_auth would give it on a route requiring --scopes, verifying HS256 tokens " +
			"with the secret from --secret-env or --secret-file, and RS256 tokens with the keys fetched once " +
			"from --jwks-url (or the URL of --workos-client-id), or read from the local JWK set of --jwks-file " +
			"(as `caddy solo-auth keygen` writes it). A token of '-' is read from standard input.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			token := args[0]
			if token == "-" {
				data, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), jwt.MaxTokenSize+1))
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
			v := &jwt.Verifier{Leeway: leeway}
			if key, err := secret.load(); err == nil {
				v.Secrets = [][]byte{key}
			} else {
				fmt.Fprintf(out, "note: no secret (%v); HS256 tokens will be refused\n", err)
			}
			if jwksFile != "" && (jwksURL != "" || clientID != "") {
				return errors.New("--jwks-file: give it alone, without --jwks-url or --workos-client-id")
			}
			if clientID != "" && jwksURL == "" {
				jwksURL = WorkOSJWKSBase + url.PathEscape(clientID)
			}
			// As on a route with token_types: a kind left out has no key.
			var err error
			var workos bool
			if v.Secrets, workos, err = limitToTokenTypes(types, v.Secrets, jwksURL != "" || jwksFile != ""); err != nil {
				return err
			}
			switch {
			case !workos:
			case jwksFile != "":
				keys, err := readInspectJWKSFile(jwksFile, out)
				if err != nil {
					return err
				}
				v.RSAKeys = keys
			default:
				ks := keys.New(keys.Config{URL: jwksURL, Refresh: DefaultJWKSRefresh})
				if err := ks.FetchOnce(); err != nil {
					fmt.Fprintf(out, "note: %v; RS256 tokens will be refused\n", err)
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
	cmd.Flags().StringVar(&jwksFile, "jwks-file", "", "local JWK set file to verify RS256 tokens with")
	cmd.Flags().StringSliceVar(&types, "token-types", nil, "the token kinds the route accepts (sdk, workos), as token_types")
	return cmd
}

// readInspectJWKSFile reads --jwks-file as a route reads jwks_file
// (ReadFile: the fetched set's rules, a regular file of at most 1 MiB,
// at least one usable key), with the error naming the flag; each skipped
// key is listed with its reason on out.
func readInspectJWKSFile(path string, out io.Writer) (*keys.Sources, error) {
	logger := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zapcore.EncoderConfig{MessageKey: "msg"}),
		zapcore.AddSync(out), zapcore.InfoLevel))
	f, err := keys.ReadFile(path, time.Now(), logger)
	if err != nil {
		return nil, fmt.Errorf("--jwks-file: %w", err)
	}
	return keys.NewSources(nil, []*keys.File{f}), nil
}
