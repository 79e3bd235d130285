package natsconn

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/natstest"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		o    Options
		want error
	}{
		{"ok", Options{URL: "nats://127.0.0.1:4222"}, nil},
		{"several", Options{URL: "nats://a:4222, tls://b:4222"}, nil},
		{"empty", Options{}, ErrConfig},
		{"scheme", Options{URL: "http://a:4222"}, ErrConfig},
		{"no host", Options{URL: "nats://"}, ErrConfig},
		{"creds missing", Options{URL: "nats://a:1", CredsFile: filepath.Join(dir, "none.creds")}, ErrConfig},
		{"ca missing", Options{URL: "nats://a:1", CAFile: filepath.Join(dir, "none.pem")}, ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.o.Validate(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Validate = %v, want %v", err, tt.want)
			}
		})
	}
	if got := Redacted("nats://u:secret@h:1,nats://h2:2"); strings.Contains(got, "secret") {
		t.Errorf("Redacted left the password: %s", got)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// NATS down at start: a clear error at once, or after --connect-timeout.
func TestUnreachable(t *testing.T) {
	url := "nats://" + freeAddr(t)
	_, err := Connect(context.Background(), Options{URL: url})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "--connect-timeout") {
		t.Errorf("err = %v, want ErrUnreachable naming %s and --connect-timeout", err, url)
	}
	_, err = Connect(context.Background(), Options{URL: url, ConnectTimeout: 600 * time.Millisecond})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "waited 600ms") {
		t.Errorf("err = %v, want ErrUnreachable after waiting", err)
	}
}

// With --connect-timeout, a server that comes up while waiting is used.
func TestWaitsForServer(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	ns.Shutdown()
	done := make(chan error, 1)
	go func() {
		nc, err := Connect(context.Background(), Options{URL: ns.URL, ConnectTimeout: 20 * time.Second})
		if err == nil {
			nc.Close()
		}
		done <- err
	}()
	ns.Restart()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestTLS(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{TLS: true})
	nc, err := Connect(context.Background(), Options{URL: ns.URL, CAFile: ns.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	if !nc.TLSRequired() {
		t.Error("connected without TLS")
	}
	nc.Close()
	// Without the CA the server's certificate is not trusted.
	if _, err := Connect(context.Background(), Options{URL: ns.URL}); !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "--nats-ca") {
		t.Errorf("err = %v, want ErrAuth pointing at --nats-ca", err)
	}
	// nats:// to a server that requires TLS, with the CA: TLS anyway.
	plain := "nats://" + net.JoinHostPort(ns.Host, strconv.Itoa(ns.Port))
	if nc, err := Connect(context.Background(), Options{URL: plain, CAFile: ns.CAFile}); err != nil {
		t.Errorf("nats:// with --nats-ca: %v", err)
	} else {
		nc.Close()
	}
}

func TestCredentials(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{Creds: true})
	nc, err := Connect(context.Background(), Options{URL: ns.URL, CredsFile: ns.CredsFile})
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if _, err := Connect(context.Background(), Options{URL: ns.URL}); !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "--nats-creds") {
		t.Errorf("without credentials: %v, want ErrAuth pointing at --nats-creds", err)
	}
}
