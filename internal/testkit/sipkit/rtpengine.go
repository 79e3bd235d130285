package sipkit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// RTPEngine is a running rtpengine (Debian's rtpengine-daemon) in
// userspace: no kernel module (--table=-1), media on the loopback
// interface only, controlled over the ng protocol on a loopback UDP port.
type RTPEngine struct {
	// NG is its control socket as Kamailio's rtpengine module names it:
	// udp:127.0.0.1:PORT.
	NG string
	p  *proc
}

// rtpPortSpan is how many media ports rtpengine gets: two per stream
// (RTP and RTCP), two streams per call, a few calls.
const rtpPortSpan = 200

// StartRTPEngine starts rtpengine on loopback; the test stops it. Its
// media ports are a block picked at random below Linux's ephemeral range
// (rtpengine skips a port that is taken); its control port is free.
func StartRTPEngine(t testing.TB) *RTPEngine {
	t.Helper()
	bin := lookPath(t, "rtpengine", "rtpengine-daemon")
	ng := fmt.Sprintf("127.0.0.1:%d", FreePort(t, "udp"))
	low := 20000 + 2*rand.N(5000)
	p := start(t, "rtpengine", bin,
		"--config-file=none", "--foreground", "--log-stderr", "--no-log-timestamps", "--log-level=6",
		"--table=-1", "--interface=127.0.0.1", "--listen-ng="+ng,
		fmt.Sprintf("--port-min=%d", low), fmt.Sprintf("--port-max=%d", low+rtpPortSpan-1),
		"--delete-delay=0", "--num-threads=2")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := p.waitOutput(ctx, "Startup complete"); err != nil {
		t.Fatal(err)
	}
	return &RTPEngine{NG: "udp:" + ng, p: p}
}

// Output is what rtpengine logged so far.
func (r *RTPEngine) Output() string { return r.p.out.String() }
