// Package natstest runs an embedded NATS server (nats-server/v2 in the
// test's process) for the scale-out tests: on a free port of a given
// address, with JetStream, optionally with TLS or with credentials
// (operator mode: a creds file like "nsc" writes), and restartable on the
// same port to stand for a NATS restart.
package natstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Options say what server to run.
type Options struct {
	// Host to listen on (default 127.0.0.1).
	Host string
	// TLS makes the server require TLS with a certificate of a CA written
	// to Server.CAFile.
	TLS bool
	// Creds makes the server require a user JWT (operator mode) and
	// writes a valid credentials file to Server.CredsFile.
	Creds bool
}

// Server is a running embedded NATS server.
type Server struct {
	URL       string // nats://host:port, or tls://host:port with TLS
	CAFile    string // with TLS
	CredsFile string // with Creds
	Host      string
	Port      int

	t    testing.TB
	opts *server.Options
	mu   sync.Mutex
	srv  *server.Server
}

// Start runs a server until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	dir := t.TempDir()
	opts := &server.Options{
		Host: o.Host, Port: freePort(t, o.Host), NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: filepath.Join(dir, "js"), JetStreamMaxMemory: 64 << 20,
		ServerName: "callstat-test",
	}
	s := &Server{t: t, opts: opts, Host: o.Host, Port: opts.Port}
	scheme := "nats"
	if o.TLS {
		cfg, caFile := tlsConfig(t, dir, o.Host)
		opts.TLS, opts.TLSConfig = true, cfg
		s.CAFile = caFile
		scheme = "tls"
	}
	if o.Creds {
		s.CredsFile = operatorMode(t, dir, opts)
	}
	s.URL = fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(o.Host, strconv.Itoa(opts.Port)))
	s.start()
	t.Cleanup(s.Shutdown)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	srv, err := server.NewServer(s.opts)
	if err != nil {
		s.t.Fatalf("natstest: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		s.t.Fatalf("natstest: server not ready on %s", s.URL)
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
}

// Shutdown stops the server (its clients see the connection drop).
func (s *Server) Shutdown() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts the server again on the same port, with an empty
// memory: what a restarted NATS is.
func (s *Server) Restart() {
	s.t.Helper()
	s.Shutdown()
	s.start()
}

// NumClients is how many clients are connected now.
func (s *Server) NumClients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return 0
	}
	return s.srv.NumClients()
}

// freePort picks a port that is free on host now.
func freePort(t testing.TB, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

// tlsConfig makes a CA and a server certificate for host, and writes the
// CA to a file clients trust.
func tlsConfig(t testing.TB, dir, host string) (*tls.Config, string) {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatalf("natstest: TLS: %v", err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "callstat test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	must(err)
	caCert, err := x509.ParseCertificate(caDER)
	must(err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if ip := net.ParseIP(host); ip != nil {
		leaf.IPAddresses = []net.IP{ip}
	} else {
		leaf.DNSNames = []string{host}
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	must(err)
	caFile := filepath.Join(dir, "nats-ca.pem")
	must(os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}}, caFile
}

// operatorMode makes an operator, an account with JetStream and a user,
// sets the server to trust them, and writes the user's credentials file.
func operatorMode(t testing.TB, dir string, opts *server.Options) string {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatalf("natstest: credentials: %v", err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, err := okp.PublicKey()
	must(err)
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "callstat-test"
	ojwt, err := oc.Encode(okp)
	must(err)
	oc, err = jwt.DecodeOperatorClaims(ojwt)
	must(err)

	resolver := &server.MemAccResolver{}
	account := func(name string, js bool) (nkeys.KeyPair, string) {
		akp, err := nkeys.CreateAccount()
		must(err)
		apub, err := akp.PublicKey()
		must(err)
		ac := jwt.NewAccountClaims(apub)
		ac.Name = name
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		ajwt, err := ac.Encode(okp)
		must(err)
		must(resolver.Store(apub, ajwt))
		return akp, apub
	}
	_, sysPub := account("SYS", false)
	akp, _ := account("CALLSTAT", true)

	ukp, err := nkeys.CreateUser()
	must(err)
	upub, err := ukp.PublicKey()
	must(err)
	uc := jwt.NewUserClaims(upub)
	uc.Name = "callstat"
	ujwt, err := uc.Encode(akp)
	must(err)
	seed, err := ukp.Seed()
	must(err)
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	must(err)
	path := filepath.Join(dir, "callstat.creds")
	must(os.WriteFile(path, creds, 0o600))

	opts.TrustedOperators = []*jwt.OperatorClaims{oc}
	opts.AccountResolver = resolver
	opts.SystemAccount = sysPub
	return path
}
