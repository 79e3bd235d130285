package cmdutil

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/signaling/token"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeyFlagsLoad(t *testing.T) {
	key16, key32 := "0123456789abcdef", "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name      string
		flags     KeyFlags
		env       map[string]string
		required  bool
		want      bool
		wantErr   string
		wantLen32 bool
	}{
		{name: "nothing, optional", want: false},
		{name: "nothing, required", required: true, wantErr: "--realm is required"},
		{name: "file with a newline", flags: KeyFlags{Realm: "r", KeyFile: writeFile(t, "k", key16+"\n")}, want: true},
		{name: "file with CRLF", flags: KeyFlags{Realm: "r", KeyFile: writeFile(t, "k", key32+"\r\n")}, want: true, wantLen32: true},
		{name: "key from the environment", flags: KeyFlags{Realm: "r"}, env: map[string]string{EnvTokenKey: key32}, want: true, wantLen32: true},
		{name: "file wins over the environment", flags: KeyFlags{Realm: "r", KeyFile: writeFile(t, "k", key16)},
			env: map[string]string{EnvTokenKey: key32}, want: true},
		{name: "realm without key", flags: KeyFlags{Realm: "r"}, wantErr: "key is required"},
		{name: "key without realm", env: map[string]string{EnvTokenKey: key16}, wantErr: "--realm is required"},
		{name: "blank realm", flags: KeyFlags{Realm: " "}, env: map[string]string{EnvTokenKey: key16}, wantErr: "--realm is required"},
		{name: "17-character key", flags: KeyFlags{Realm: "r", KeyFile: writeFile(t, "k", key16+"x")}, wantErr: "16 or 32 characters long, not 17"},
		{name: "24-character key from env", flags: KeyFlags{Realm: "r"}, env: map[string]string{EnvTokenKey: key16 + "01234567"},
			wantErr: "$CALLSTAT_TOKEN_KEY: token key must be 16 or 32"},
		{name: "missing file", flags: KeyFlags{Realm: "r", KeyFile: "/nonexistent/k"}, wantErr: "cannot read --key-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := TestFactory(tt.env)
			o := tt.flags
			got, err := o.Load(f, tt.required)
			if tt.wantErr != "" {
				var fe *FlagError
				if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a FlagError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Load = %v, %v; want %v", got, err, tt.want)
			}
			if got && o.Key.UsesIV() != tt.wantLen32 {
				t.Errorf("key UsesIV = %v", o.Key.UsesIV())
			}
		})
	}
}

// testCert writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files.
func testCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeFile(t, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = writeFile(t, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	return certFile, keyFile
}

func TestTLSFlags(t *testing.T) {
	cert, key := testCert(t)
	tests := []struct {
		name    string
		flags   TLSFlags
		wantNil bool
		wantErr string
	}{
		{name: "none", wantNil: true},
		{name: "both", flags: TLSFlags{CertPath: cert, KeyPath: key}},
		{name: "cert only", flags: TLSFlags{CertPath: cert}, wantErr: "go together"},
		{name: "key only", flags: TLSFlags{KeyPath: key}, wantErr: "go together"},
		{name: "swapped", flags: TLSFlags{CertPath: key, KeyPath: cert}, wantErr: "cannot load"},
		{name: "missing", flags: TLSFlags{CertPath: "/nonexistent", KeyPath: key}, wantErr: "cannot load"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.flags.Config()
			if tt.wantErr != "" {
				var fe *FlagError
				if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a FlagError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || (cfg == nil) != tt.wantNil {
				t.Fatalf("Config = %v, %v", cfg, err)
			}
		})
	}

	if cfg, err := TLSClientConfig(""); cfg != nil || err != nil {
		t.Errorf("no --ca-file: %v, %v; want nil (system roots)", cfg, err)
	}
	if cfg, err := TLSClientConfig(cert); err != nil || cfg.RootCAs == nil {
		t.Errorf("--ca-file with a certificate: %v, %v", cfg, err)
	}
	for _, bad := range []string{key, "/nonexistent", writeFile(t, "x", "not pem")} {
		var fe *FlagError
		if _, err := TLSClientConfig(bad); !errors.As(err, &fe) {
			t.Errorf("--ca-file %s: err = %v, want a FlagError", bad, err)
		}
	}
}

const paramsJSON = `{"realm":"r","accountToken":"a","fromToken":"f","toToken":"t","caller":"sip:bob@x","callee":"sip:alice@x"}`

func TestClientFlagsTokens(t *testing.T) {
	f, _, _ := TestFactory(nil)
	file := writeFile(t, "p.json", paramsJSON)
	for _, tt := range []struct {
		name    string
		o       ClientFlags
		wantErr string
	}{
		{name: "both sources", o: ClientFlags{TokenFile: file, TokenURL: "http://x/y"}, wantErr: "exclude each other"},
		{name: "ws token url", o: ClientFlags{TokenURL: "ws://x/y"}, wantErr: "invalid --token-url"},
		{name: "token url without host", o: ClientFlags{TokenURL: "http:///y"}, wantErr: "invalid --token-url"},
		{name: "missing ca file", o: ClientFlags{CAFile: "/nonexistent"}, wantErr: "--ca-file"},
		{name: "fine", o: ClientFlags{TokenFile: file}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			o.Server, o.Store, o.Audio, o.Interval = DefaultServer, "s.db", "tone", time.Second
			err := o.Validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}

	o := ClientFlags{TokenFile: file}
	if err := o.LoadTokens(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	want := token.Params{Realm: "r", AccountToken: "a", FromToken: "f", ToToken: "t", Caller: "sip:bob@x", Callee: "sip:alice@x"}
	if o.Tokens == nil || *o.Tokens != want {
		t.Errorf("tokens %+v, want %+v", o.Tokens, want)
	}
	if cfg := o.Config(f, "sip:bob@x"); cfg.Tokens != o.Tokens {
		t.Error("the configuration does not carry the tokens")
	}
	bad := ClientFlags{TokenFile: writeFile(t, "p.json", `{"realm":"r"}`)}
	if err := bad.LoadTokens(context.Background(), f); !errors.Is(err, app.ErrTokens) || ExitCodeFor(err) != ExitAuth {
		t.Errorf("incomplete parameters: %v (exit %d)", err, ExitCodeFor(err))
	}
}
