package soloauth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/revocation"
	"github.com/spf13/cobra"
)

// revokeFlags are the flags of `caddy solo-auth revoke`.
type revokeFlags struct {
	sub, sid, jti, tokenFile, until string
	list                            bool
	lift                            string
	address, config, adapter        string
}

func revokeCommand() *cobra.Command {
	var f revokeFlags
	cmd := &cobra.Command{
		Use:   "revoke (--sub S | --sid S | --jti J | --token-file F) [--until T] | --list | --lift ID",
		Short: "Revokes tokens, lists or lifts revocations, through the admin API",
		Long: `
Adds a revocation on the running Caddy (POST /solo_auth/revocations), lists
those in force (--list) or lifts one (--lift ID). Caddy stores it in its
configured storage, so every instance sharing that storage applies it
within revocation_poll.

--token-file reads a token from a file and sends only its SHA-256: the
token itself never leaves this machine. --until is RFC 3339 (default 24h
from now, at most 30 days).

The admin endpoint is --address if given, else the one in --config, else
Caddy's default (localhost:2019), as for caddy reload.

  caddy solo-auth revoke --token-file leaked.jwt
  caddy solo-auth revoke --sub svc_billing --until 2026-12-01T00:00:00Z
  caddy solo-auth revoke --list
  caddy solo-auth revoke --lift 3f2a9c0d1e4b5a6c
`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			method, uri, body, err := f.request()
			if err != nil {
				return err
			}
			addr, err := caddycmd.DetermineAdminAPIAddress(adminAddress(f.address), nil, f.config, f.adapter)
			if err != nil {
				return fmt.Errorf("admin address: %w", err)
			}
			var reqBody io.Reader
			if body != nil {
				reqBody = bytes.NewReader(body)
			}
			resp, err := caddycmd.AdminAPIRequest(addr, method, uri, nil, reqBody)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			// Caddy's client follows redirects (as a GET): print only
			// what the endpoint asked for answered, never what a
			// redirect led to (the whole config, secrets included).
			if resp.Request != nil && resp.Request.URL.EscapedPath() != uri {
				return fmt.Errorf("the admin endpoint redirected %s %s to %s; not showing that answer",
					method, uri, resp.Request.URL.EscapedPath())
			}
			return printJSON(cmd.OutOrStdout(), resp)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.sub, "sub", "", "revoke the subject's tokens issued up to now")
	fl.StringVar(&f.sid, "sid", "", "revoke the tokens of a WorkOS session (sid claim)")
	fl.StringVar(&f.jti, "jti", "", "revoke the tokens with this jti claim")
	fl.StringVar(&f.tokenFile, "token-file", "", "revoke the token in this file (only its SHA-256 is sent)")
	fl.StringVar(&f.until, "until", "", "RFC 3339 time the revocation ends (default: in 24h)")
	fl.BoolVar(&f.list, "list", false, "list the revocations in force")
	fl.StringVar(&f.lift, "lift", "", "lift the revocation with this id")
	fl.StringVar(&f.address, "address", "", "admin API address (default: from --config, else localhost:2019)")
	fl.StringVarP(&f.config, "config", "c", "", "config file whose admin address to use")
	fl.StringVarP(&f.adapter, "adapter", "a", "", "adapter of --config")
	return cmd
}

// request is the admin API call the flags ask for.
func (f *revokeFlags) request() (method, uri string, body []byte, err error) {
	kinds := map[string]string{}
	for name, v := range map[string]string{"sub": f.sub, "sid": f.sid, "jti": f.jti} {
		if v != "" {
			kinds[name] = v
		}
	}
	if f.tokenFile != "" {
		sum, err := hashTokenFile(f.tokenFile)
		if err != nil {
			return "", "", nil, err
		}
		kinds["token_sha256"] = sum
	}
	actions := len(kinds)
	if f.list {
		actions++
	}
	if f.lift != "" {
		actions++
	}
	if actions != 1 {
		return "", "", nil, errors.New("want exactly one of --sub, --sid, --jti, --token-file, --list, --lift")
	}
	switch {
	case f.list:
		return http.MethodGet, "/solo_auth/revocations", nil, f.noUntil()
	case f.lift != "":
		if !revocation.IsID(f.lift) {
			return "", "", nil, fmt.Errorf("--lift: want a revocation id (16 lowercase hex digits, as --list shows), got %q", f.lift)
		}
		return http.MethodDelete, "/solo_auth/revocations/" + url.PathEscape(f.lift), nil, f.noUntil()
	}
	req := map[string]string{}
	for k, v := range kinds {
		req[k] = v
	}
	if f.until != "" {
		req["until"] = f.until
	}
	body, err = json.Marshal(req)
	return http.MethodPost, "/solo_auth/revocations", body, err
}

func (f *revokeFlags) noUntil() error {
	if f.until != "" {
		return errors.New("--until goes with a revocation, not --list or --lift")
	}
	return nil
}

// hashTokenFile is the hex SHA-256 of the token in a file, surrounding
// white space (a trailing newline) ignored. The file must hold one
// compact JWS (three base64url segments): the hash of anything else
// (a quoted token, a "Bearer " line, a JSON file) would revoke nothing.
func hashTokenFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if !jwt.IsCompactJWS(token) {
		// The content is not echoed: it may be a secret.
		return "", fmt.Errorf("--token-file %s: want one compact token (three base64url segments joined by dots, nothing else)", path)
	}
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:]), nil
}

func printJSON(out io.Writer, resp *http.Response) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "", "  ") != nil {
		_, err = out.Write(body)
		return err
	}
	_, err = fmt.Fprintln(out, pretty.String())
	return err
}

// adminAddress takes --address as `caddy reload` does (host:port, or a
// unix socket as unix//path), and also as the URL an operator copies from
// a browser or curl: http://host:port/ is host:port. Caddy's admin client
// speaks plain HTTP to the admin endpoint, so no other scheme is meant.
func adminAddress(flag string) string {
	if rest, ok := strings.CutPrefix(flag, "http://"); ok {
		return strings.TrimSuffix(rest, "/")
	}
	return flag
}
