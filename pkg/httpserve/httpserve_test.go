package httpserve

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Serve answers requests until its context ends, runs stop before the
// HTTP shutdown, lets a request in progress finish, and returns nil.
func TestServeUntilCancelled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inHandler, release := make(chan struct{}), make(chan struct{})
	hs := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(inHandler)
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var order []string
	stopped := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, hs, ln, 10*time.Second, func(context.Context) error {
			order = append(order, "stop")
			close(stopped)
			return nil
		})
	}()
	base := "http://" + ln.Addr().String()
	get := func(path string) (string, error) {
		resp, err := http.Get(base + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := get("/"); err != nil || body != "ok" {
		t.Fatalf("GET / = %q, %v", body, err)
	}
	slow := make(chan string, 1)
	go func() { body, _ := get("/slow"); slow <- body }()
	<-inHandler
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("stop was not called after the context ended")
	}
	close(release)
	if body := <-slow; body != "ok" {
		t.Errorf("the request in progress got %q, want it to finish", body)
	}
	select {
	case err := <-done:
		if err != nil || len(order) != 1 {
			t.Errorf("Serve = %v, stop calls %v", err, order)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// A listener that fails ends Serve at once with the reason.
func TestServeFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = ln.Close()
	err = Serve(context.Background(), &http.Server{ReadHeaderTimeout: time.Second}, ln, time.Second, nil)
	if err == nil || !errors.Is(err, net.ErrClosed) || !strings.HasPrefix(err.Error(), "serve: ") {
		t.Errorf("Serve on a closed listener = %v, want a serve error wrapping net.ErrClosed", err)
	}
}

// A stop that fails is reported, and the HTTP server is still shut down.
func TestServeStopError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	boom := errors.New("boom")
	err = Serve(ctx, &http.Server{ReadHeaderTimeout: time.Second}, ln, time.Second, func(context.Context) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("Serve = %v, want the stop error", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		_ = c.Close()
		t.Error("the listener still accepts after Serve returned")
	}
}
