package soloauth

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
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
			if jwksFile != "" && (jwksURL != "" || clientID != "") {
				return errors.New("--jwks-file: give it alone, without --jwks-url or --workos-client-id")
			}
			if clientID != "" && jwksURL == "" {
				jwksURL = WorkOSJWKSBase + url.PathEscape(clientID)
			}
			// As on a route with token_types: a kind left out has no key.
			// The RS256 key source is either a URL or a file.
			rsSource := jwksURL + jwksFile
			var err error
			if v.Secrets, rsSource, err = (&SoloAuth{TokenTypes: types}).limitToTokenTypes(v.Secrets, rsSource); err != nil {
				return err
			}
			switch {
			case rsSource == "":
			case jwksFile != "":
				keys, err := readJWKSFile(jwksFile)
				if err != nil {
					return err
				}
				v.RSAKeys = keys
			default:
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
	cmd.Flags().StringVar(&jwksFile, "jwks-file", "", "local JWK set file to verify RS256 tokens with")
	cmd.Flags().StringSliceVar(&types, "token-types", nil, "the token kinds the route accepts (sdk, workos), as token_types")
	return cmd
}

// fileKeys are the usable keys of a local JWK set: a fixed table, never
// fetched, so an unknown kid is simply unknown.
type fileKeys map[string]*rsa.PublicKey

func (k fileKeys) RSAKey(_ context.Context, kid string) (*rsa.PublicKey, error) {
	if key := k[kid]; key != nil {
		return key, nil
	}
	return nil, ErrUnknownKeyID
}

func (k fileKeys) CurrentKey(kid string) *rsa.PublicKey { return k[kid] }

// readJWKSFile reads a local JWK set under the rules of a fetched one
// (parseJWKS, at most jwksMaxBody bytes); every error names the file.
func readJWKSFile(path string) (fileKeys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--jwks-file: %w", err)
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, jwksMaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("--jwks-file %s: %w", path, err)
	}
	if len(body) > jwksMaxBody {
		return nil, fmt.Errorf("--jwks-file %s: larger than %d bytes", path, jwksMaxBody)
	}
	keys, skipped, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("--jwks-file %s: %w", path, err)
	}
	if len(keys) == 0 {
		reasons := make([]string, 0, len(skipped))
		for _, s := range skipped {
			reasons = append(reasons, fmt.Sprintf("kid %q: %s", s.kid, s.reason))
		}
		return nil, fmt.Errorf("--jwks-file %s: no usable key (%s)", path, strings.Join(reasons, "; "))
	}
	return fileKeys(keys), nil
}
