package soloauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/keys"
	"github.com/spf13/cobra"
)

// keygenBits is the size of the RSA keys keygen writes: the smallest a
// key set uses (MinRSABits), as WorkOS's own keys are.
const keygenBits = 2048

// maxKeyFileSize bounds what is read of a --key file; a PEM RSA key is a
// few KiB.
const maxKeyFileSize = 64 << 10

func keygenCommand() *cobra.Command {
	var (
		kid, keyFile, jwksFile string
		force                  bool
	)
	cmd := &cobra.Command{
		Use:   "keygen --kid <kid> --key <file> --jwks <file> [--force]",
		Short: "Writes a new RSA key pair: the private key for token --rs256, the public JWK set for a route",
		Long: "Writes a new RSA-2048 private key to --key (PEM, PKCS#8, file mode 0600) and its " +
			"public half to --jwks as a JWK set with one key (kid --kid, alg RS256, use sig), " +
			"which a route trusts with `jwks_file` (or serves at a `jwks_url`). " +
			"`caddy solo-auth token --rs256 --key <file> --kid <kid>` then mints tokens it accepts. " +
			"An existing file is kept unless --force; either both files are written or neither.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, name := range []string{"kid", "key", "jwks"} {
				if !cmd.Flags().Changed(name) {
					return fmt.Errorf("--%s is required", name)
				}
			}
			if err := checkKeyID(kid); err != nil {
				return err
			}
			if keyFile == "" || jwksFile == "" {
				return errors.New("--key and --jwks each need a file name")
			}
			keyPEM, jwks, err := newKeyPair(rand.Reader, kid)
			if err != nil {
				return err
			}
			if err := writeFilePair(osFileOps, force,
				pendingFile{flag: "--key", path: keyFile, data: keyPEM, mode: 0o600},
				pendingFile{flag: "--jwks", path: jwksFile, data: jwks, mode: 0o644},
			); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (RSA-%d private key, mode 0600; keep it secret)\n"+
				"wrote %s (the public JWK set, kid %q)\n\n"+
				"trust it on a route:  jwks_file %s\n"+
				"mint a token:         caddy solo-auth token --rs256 --key %s --kid %s --sub user_123\n",
				keyFile, keygenBits, jwksFile, kid, jwksFile, keyFile, kid)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kid, "kid", "", "the key's ID, named in the header of every token it signs (required)")
	f.StringVar(&keyFile, "key", "", "file for the private key, PEM PKCS#8 (required)")
	f.StringVar(&jwksFile, "jwks", "", "file for the public JWK set (required)")
	f.BoolVar(&force, "force", false, "replace existing files")
	return cmd
}

// checkKeyID refuses a kid that would not come back from a token as it
// was written: empty (a token without kid is refused), longer than the
// verifier takes (MaxKeyIDLength bytes), not UTF-8 (JSON cannot carry it;
// encoding/json would write U+FFFD instead), or holding control
// characters (JSON carries them only escaped, and they would reach the
// logs and the admin API).
func checkKeyID(kid string) error {
	switch {
	case kid == "":
		return errors.New("--kid is empty")
	case len(kid) > jwt.MaxKeyIDLength:
		return fmt.Errorf("--kid is %d bytes; solo_auth refuses a kid over %d", len(kid), jwt.MaxKeyIDLength)
	case !utf8.ValidString(kid):
		return errors.New("--kid is not valid UTF-8, which a JWS header cannot carry")
	}
	for _, r := range kid {
		if unicode.IsControl(r) {
			return fmt.Errorf("--kid holds the control character %U; use printable characters", r)
		}
	}
	return nil
}

// newKeyPair makes an RSA key from random and returns it as PEM PKCS#8,
// and its public half as a JWK set that Parse uses under kid.
func newKeyPair(random io.Reader, kid string) (keyPEM, jwks []byte, _ error) {
	key, err := rsa.GenerateKey(random, keygenBits)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the RSA key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the private key: %w", err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &key.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig",
	}}}
	jwks, err = json.MarshalIndent(set, "", "  ")
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the JWK set: %w", err)
	}
	jwks = append(jwks, '\n')
	// What a route will make of the set, checked before anything is written.
	usable, skipped, err := keys.Parse(jwks)
	if err != nil || usable[kid] == nil {
		return nil, nil, fmt.Errorf("the new JWK set would not be used (%v %v); nothing written", err, skipped)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), jwks, nil
}

// loadRSAPrivateKey reads the RSA private key of a PEM file: PKCS#8
// ("PRIVATE KEY", as keygen writes it) or PKCS#1 ("RSA PRIVATE KEY"), of at
// least MinRSABits, since no key set would use a smaller one. Every
// error names the flag and the file.
func loadRSAPrivateKey(path string) (*rsa.PrivateKey, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("--key %s: "+format, append([]any{path}, args...)...)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fail("%w", err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fail("larger than %d bytes; not a key file", maxKeyFileSize)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fail("not a PEM file")
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		return nil, fail("holds an EC key; RS256 needs an RSA key")
	case "ENCRYPTED PRIVATE KEY":
		return nil, fail("the key is encrypted; decrypt it first (openssl pkcs8 -in %s -out plain.key)", path)
	case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
		return nil, fail("holds a %s, not a private key (that goes in the JWK set)", block.Type)
	default:
		return nil, fail("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fail("unreadable %s: %w", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < keys.MinRSABits {
			return nil, fail("RSA key of %d bits; solo_auth uses no key under %d bits", bits, keys.MinRSABits)
		}
		return k, nil
	case *ecdsa.PrivateKey:
		return nil, fail("holds an EC key; RS256 needs an RSA key")
	case ed25519.PrivateKey:
		return nil, fail("holds an Ed25519 key; RS256 needs an RSA key")
	default:
		return nil, fail("holds a %T; RS256 needs an RSA key", key)
	}
}
