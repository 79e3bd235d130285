package sipkit

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// Domain is the SIP domain of the test Kamailio.
const Domain = "callstat.test"

// Users are the test users of testdata/sip/kamailio.cfg and their
// passwords.
var Users = map[string]string{
	"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret",
	"dave": "dave-secret", "erin": "erin-secret", "baresip": "baresip-secret",
}

// KamailioOptions choose how the test Kamailio runs.
type KamailioOptions struct {
	// SHA256 challenges with algorithm=SHA-256 instead of MD5.
	SHA256 bool
	// RTPEngine, when set, sends media through that rtpengine (its
	// control address, udp:127.0.0.1:PORT).
	RTPEngine string
	// UDP opens a SIP/UDP socket besides the WebSocket, for user agents
	// that are not WebRTC clients (baresip).
	UDP bool
}

// Kamailio is a running Kamailio: registrar and proxy over WebSocket.
type Kamailio struct {
	// URL is its WebSocket URL (ws://127.0.0.1:PORT/).
	URL string
	// Addr is its listening TCP address.
	Addr string
	// UDPAddr is its SIP/UDP address (with KamailioOptions.UDP).
	UDPAddr string
	p       *proc
}

// StartKamailio starts Kamailio with testdata/sip/kamailio.cfg on a free
// loopback port; the test stops it.
func StartKamailio(t testing.TB, opts KamailioOptions) *Kamailio {
	t.Helper()
	bin := lookPath(t, "kamailio", "kamailio and kamailio-websocket-modules")
	cfg := RepoFile(t, "testdata/sip/kamailio.cfg")
	dir := t.TempDir()
	port := FreePort(t, "tcp")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"-DD", "-E", "-f", cfg, "-l", "tcp:" + addr, "-Y", dir, "-P", dir + "/kamailio.pid",
		"-w", dir, "-m", "64", "-M", "8"}
	if opts.SHA256 {
		args = append(args, "-A", "WITH_SHA256")
	}
	if opts.RTPEngine != "" {
		args = append(args, "-A", "WITH_RTPENGINE", "-A", `RTPENGINE_SOCK="`+opts.RTPEngine+`"`)
	}
	var udpAddr string
	if opts.UDP {
		udpAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t, "udp"))
		args = append(args, "-l", "udp:"+udpAddr)
	}
	p := start(t, "kamailio", bin, args...)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := p.waitTCP(ctx, addr); err != nil {
		if strings.Contains(p.out.String(), "websocket.so") {
			t.Fatalf("%v: install Debian's kamailio-websocket-modules", err)
		}
		if strings.Contains(p.out.String(), "rtpengine.so") {
			t.Fatalf("%v: install Debian's kamailio (its rtpengine module)", err)
		}
		t.Fatal(err)
	}
	return &Kamailio{URL: "ws://" + addr + "/", Addr: addr, UDPAddr: udpAddr, p: p}
}

// Kill ends Kamailio at once (SIGKILL to every process), as a crash would.
func (k *Kamailio) Kill() { k.p.kill() }

// Stop ends Kamailio gracefully.
func (k *Kamailio) Stop() { k.p.stop() }

// Output is what Kamailio logged so far.
func (k *Kamailio) Output() string { return k.p.out.String() }
