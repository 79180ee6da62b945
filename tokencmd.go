package soloauth

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"
)

// WorkOSIssuer is the iss of a WorkOS access token without a custom
// authentication domain; `token --rs256` writes it by default.
const WorkOSIssuer = "https://api.workos.com"

// workosFlags are the flags of `token` that only a WorkOS-shaped (RS256)
// token takes.
var workosFlags = []string{"key", "kid", "sid", "org-id", "role", "iss"}

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

		rs256        bool
		keyFile, kid string
		sid, orgID   string
		role, issuer string
	)
	cmd := &cobra.Command{
		Use: "token [--rs256 --key <file> --kid <kid> [--sid s] [--org-id o] [--role r]] " +
			"--sub <subject> [--permissions a,b] [--lifetime 1h] [--claim name=value]...",
		Short: "Mints an SDK token (HS256), or with --rs256 a WorkOS-shaped token, and prints it",
		Long: "Mints an SDK token (HS256) signed with the secret from --secret-env or --secret-file.\n\n" +
			"With --rs256 it mints a token shaped like a WorkOS AuthKit access token instead " +
			"(iss " + WorkOSIssuer + ", sid session_..., jti, and org_id, role and roles when " +
			"given), signed RS256 with the private key of --key (as `caddy solo-auth keygen` " +
			"writes it) and naming --kid in its header. No secret is needed then.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !rs256 {
				for _, name := range workosFlags {
					if cmd.Flags().Changed(name) {
						return fmt.Errorf("--%s is for WorkOS-shaped tokens: add --rs256", name)
					}
				}
			}
			var sign func(claims map[string]any) (string, error)
			if rs256 {
				signer, err := rs256Signer(keyFile, kid)
				if err != nil {
					return err
				}
				sign = signer
			} else {
				key, err := secret.load()
				if err != nil {
					return err
				}
				sign = func(claims map[string]any) (string, error) {
					return mintJWT(jose.SigningKey{Algorithm: jose.HS256, Key: key}, nil, claims)
				}
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
			if rs256 {
				addWorkOSClaims(claims, now, issuer, sid, orgID, role)
			}
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
			token, err := sign(claims)
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
	f.BoolVar(&rs256, "rs256", false, "mint a WorkOS-shaped RS256 token with --key and --kid instead of an SDK token")
	f.StringVar(&keyFile, "key", "", "with --rs256: PEM file of the RSA private key (as keygen writes it)")
	f.StringVar(&kid, "kid", "", "with --rs256: the kid header, as in the JWK set that trusts the key")
	f.StringVar(&sid, "sid", "", "with --rs256: claim sid, the WorkOS session ID (default: a new session_...)")
	f.StringVar(&orgID, "org-id", "", "with --rs256: claim org_id, the WorkOS organization")
	f.StringVar(&role, "role", "", "with --rs256: claim role (and roles), the organization membership's role")
	f.StringVar(&issuer, "iss", WorkOSIssuer, "with --rs256: claim iss")
	return cmd
}

// rs256Signer checks the flags of an RS256 token and loads its key.
func rs256Signer(keyFile, kid string) (func(map[string]any) (string, error), error) {
	if kid == "" {
		return nil, errors.New("--rs256 needs --kid, the kid of the key in the JWK set")
	}
	if keyFile == "" {
		return nil, errors.New("--rs256 needs --key, the private key file (see `caddy solo-auth keygen`)")
	}
	if err := checkKeyID(kid); err != nil {
		return nil, err
	}
	key, err := loadRSAPrivateKey(keyFile)
	if err != nil {
		return nil, err
	}
	return func(claims map[string]any) (string, error) {
		return mintJWT(jose.SigningKey{Algorithm: jose.RS256, Key: key},
			map[jose.HeaderKey]any{"kid": kid}, claims)
	}, nil
}

// addWorkOSClaims gives claims the shape of a WorkOS AuthKit access token:
// iss, a session ID, a token ID, and the organization membership if given.
func addWorkOSClaims(claims map[string]any, now time.Time, issuer, sid, orgID, role string) {
	if sid == "" {
		sid = "session_" + newULID(now)
	}
	setIf(claims, "iss", issuer)
	claims["sid"] = sid
	claims["jti"] = newULID(now)
	setIf(claims, "org_id", orgID)
	if role != "" {
		claims["role"] = role
		claims["roles"] = []string{role}
	}
}

// newULID returns a ULID (48 bits of Unix milliseconds, 80 random bits,
// in Crockford's base32), the form of WorkOS's IDs.
func newULID(t time.Time) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	_, _ = rand.Read(b[6:]) // never fails (crypto/rand)
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

func setIf(claims map[string]any, name, value string) {
	if value != "" {
		claims[name] = value
	}
}

// mintJWT signs claims as a compact JWS with go-jose, typ JWT.
func mintJWT(key jose.SigningKey, headers map[jose.HeaderKey]any, claims map[string]any) (string, error) {
	opts := &jose.SignerOptions{ExtraHeaders: headers}
	signer, err := jose.NewSigner(key, opts.WithType("JWT"))
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
