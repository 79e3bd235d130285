package cmdutil

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/pkg/signaling/token"
)

// Environment variables for the token flags. The key itself may come from
// the environment, never from a flag: flag values show in ps.
const (
	EnvRealm     = "CALLSTAT_REALM"
	EnvKeyFile   = "CALLSTAT_TOKEN_KEY_FILE"
	EnvTokenKey  = "CALLSTAT_TOKEN_KEY"
	EnvCAFile    = "CALLSTAT_CA_FILE"
	EnvTokenFile = "CALLSTAT_TOKEN_FILE"
	EnvTokenURL  = "CALLSTAT_TOKEN_URL"
)

// KeyFlags are a realm and its secret key (serve, token).
type KeyFlags struct {
	Realm   string
	KeyFile string
	// Key is set by Load.
	Key token.Key
}

// AddKeyFlags registers --realm and --key-file.
func AddKeyFlags(cmd *cobra.Command, f *Factory, o *KeyFlags) {
	cmd.Flags().StringVar(&o.Realm, "realm", f.Getenv(EnvRealm), "token realm, the authentication schema's name (env "+EnvRealm+")")
	cmd.Flags().StringVar(&o.KeyFile, "key-file", f.Getenv(EnvKeyFile),
		"file holding the realm's 16- or 32-character secret key (env "+EnvKeyFile+"; or the key itself in "+EnvTokenKey+")")
}

// Load reads the key from --key-file, else from $CALLSTAT_TOKEN_KEY. It
// reports whether a realm and key are configured; with required, both
// must be.
func (o *KeyFlags) Load(f *Factory, required bool) (bool, error) {
	secret, source := f.Getenv(EnvTokenKey), "$"+EnvTokenKey
	if o.KeyFile != "" {
		data, err := os.ReadFile(o.KeyFile)
		if err != nil {
			return false, FlagErrorf("cannot read --key-file: %v", err)
		}
		// One trailing newline is what editors and `echo` add.
		secret, source = strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r"), "--key-file "+o.KeyFile
		if fi, err := os.Stat(o.KeyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			f.Logger.Warn("key file is readable by other users; chmod 600 it", "file", o.KeyFile, "mode", fi.Mode().Perm().String())
		}
	}
	switch {
	case o.Realm == "" && secret == "" && !required:
		return false, nil
	case strings.TrimSpace(o.Realm) == "":
		return false, FlagErrorf("--realm is required with a token key (env %s)", EnvRealm)
	case secret == "":
		return false, FlagErrorf("the realm's key is required: --key-file FILE, or the key in $%s", EnvTokenKey)
	}
	k, err := token.ParseKey(secret)
	if err != nil {
		return false, FlagErrorf("%s: %v", source, err)
	}
	o.Key = k
	return true, nil
}

// TLSFlags are a server's certificate and key (serve, token serve).
type TLSFlags struct {
	CertPath, KeyPath string
}

// AddTLSFlags registers --tls-cert and --tls-key.
func AddTLSFlags(cmd *cobra.Command, o *TLSFlags) {
	cmd.Flags().StringVar(&o.CertPath, "tls-cert", "", "PEM certificate (chain) file: serve TLS (wss://, https://) with --tls-key")
	cmd.Flags().StringVar(&o.KeyPath, "tls-key", "", "PEM private key file for --tls-cert")
}

// Config loads the certificate; nil without one.
func (o *TLSFlags) Config() (*tls.Config, error) {
	if o.CertPath == "" && o.KeyPath == "" {
		return nil, nil
	}
	if o.CertPath == "" || o.KeyPath == "" {
		return nil, FlagErrorf("--tls-cert and --tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(o.CertPath, o.KeyPath)
	if err != nil {
		return nil, FlagErrorf("cannot load --tls-cert/--tls-key: %v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// TLSClientConfig trusts only caFile's certificates when it is given, the
// system's roots otherwise (nil).
func TLSClientConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, FlagErrorf("cannot read --ca-file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, FlagErrorf("--ca-file %s holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// validateSecurity checks --token-file/--token-url and loads --ca-file.
func (o *ClientFlags) validateSecurity() error {
	if o.TokenFile != "" && o.TokenURL != "" {
		return FlagErrorf("--token-file and --token-url exclude each other")
	}
	if o.TokenURL != "" {
		if u, err := url.Parse(o.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return FlagErrorf("invalid --token-url %q: want an http:// or https:// URL such as http://127.0.0.1:3000/callparameters", o.TokenURL)
		}
	}
	tlsCfg, err := TLSClientConfig(o.CAFile)
	if err != nil {
		return err
	}
	o.TLS = tlsCfg
	return nil
}

// HasTokens reports whether --token-file or --token-url was given.
func (o *ClientFlags) HasTokens() bool { return o.TokenFile != "" || o.TokenURL != "" }
