package sip_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/sipkit"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/signaling"
)

// Tones of the baresip test: each side sends its own, and each must hear
// the other's.
const (
	baresipHz  = 700
	callstatHz = 1000
	// toneFloor is the level a heard tone must reach (ToneLevel of a
	// full-scale tone is about 0.5; callstat's tone source sends -6 dBFS).
	toneFloor = 0.05
)

// TestBaresip: a callstat phone and baresip, a SIP user agent that is not
// pion, registered to the same Kamailio, call each other both ways.
// baresip 1.0 speaks plain RTP, callstat WebRTC (ICE, DTLS-SRTP,
// rtcp-mux): rtpengine sits between them, driven by Kamailio's rtpengine
// module, as deployments put it in front of phones and PBXs. Audio is
// proven both ways by tone detection at both ends (callstat's recording,
// baresip's sndfile dump of what it decoded) and by callstat's stats.
func TestBaresip(t *testing.T) {
	checkRoutines(t)
	rtpe := sipkit.StartRTPEngine(t)
	k := sipkit.StartKamailio(t, sipkit.KamailioOptions{RTPEngine: rtpe.NG, UDP: true})
	br := sipkit.StartBaresip(t, sipkit.BaresipOptions{Registrar: k.UDPAddr, User: "baresip",
		Password: sipkit.Users["baresip"], ToneHz: baresipHz, AutoAnswer: true})
	dir := t.TempDir()
	rec := newRecorder()
	alice := mustPhone(t, phoneOpts{url: k.URL, user: "alice", register: true, src: testSource(t, "tone:1000"),
		hooks: rec.hooks(), record: dir})
	answering := answerer(t, alice, answer(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// talk waits until audio has flowed both ways for a while: callstat
	// receives, and baresip's receiver reports say it receives too.
	talk := func(t *testing.T, c *call.Call) {
		t.Helper()
		waitFor(t, c.Connected(), "callstat Connected")
		eventually(t, 15*time.Second, "2 s of audio each way", func() bool {
			return inbound(c) >= 100 && statNumber(c, "outbound-rtp", "packetsSent") >= 100
		})
		logStats(t, c)
	}
	var calls []*call.Call
	dumps := map[string][]string{} // direction → baresip's recordings of it
	newDumps := func(kind string) []string {
		var fresh []string
		for _, f := range br.DumpsOf(kind) {
			if !slices.Contains(dumps[kind], f) {
				fresh = append(fresh, f)
			}
		}
		dumps[kind] = append(dumps[kind], fresh...)
		return fresh
	}

	t.Run("callstat calls baresip", func(t *testing.T) {
		c, err := alice.Dial(ctx, "baresip@"+sipkit.Domain)
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, c)
		if ev, err := br.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil || ev.PeerURI != aor("alice") {
			t.Fatalf("baresip's call: %+v, %v", ev, err)
		}
		talk(t, c)
		c.Hangup("callstat hangs up")
		waitFor(t, c.Done(), "callstat Done")
		if _, err := br.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
			t.Fatal(err)
		}
		if err := c.Err(); err != nil || c.Transition().StatusCode != signaling.StatusNormal {
			t.Errorf("callstat's call: err %v, transition %+v", err, c.Transition())
		}
		if got, want := strings.Join(rec.states(c.ID()), ","), "Initiated,Ringing,Connected,Ended"; got != want {
			t.Errorf("callstat's states %s, want %s", got, want)
		}
		checkBaresipHeard(t, newDumps("dec"), "callstat's call")
	})

	t.Run("baresip calls callstat", func(t *testing.T) {
		if _, err := br.Command(ctx, "dial", aor("alice")); err != nil {
			t.Fatal(err)
		}
		eventually(t, 15*time.Second, "the call from baresip", func() bool { return len(alice.Calls()) == 1 })
		c := alice.Calls()[0]
		calls = append(calls, c)
		if c.Remote() != br.AOR {
			t.Errorf("callstat sees the call from %q, want %q", c.Remote(), br.AOR)
		}
		if _, err := br.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
			t.Fatal(err)
		}
		talk(t, c)
		if _, err := br.Command(ctx, "hangup", ""); err != nil {
			t.Fatal(err)
		}
		waitFor(t, c.Done(), "callstat Done after baresip's BYE")
		if err := c.Err(); err != nil || c.Transition().StatusCode != signaling.StatusNormal {
			t.Errorf("callstat's call: err %v, transition %+v", err, c.Transition())
		}
		if got, want := strings.Join(rec.states(c.ID()), ","), "Ringing,Connected,Ended"; got != want {
			t.Errorf("callstat's states %s, want %s", got, want)
		}
		if _, err := br.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
			t.Fatal(err)
		}
		checkBaresipHeard(t, newDumps("dec"), "baresip's call")
	})

	_ = alice.Close()
	answering.Wait()
	br.Stop()
	// What callstat heard: baresip's tone, in each call's recording.
	for _, c := range calls {
		path := filepath.Join(dir, c.ID()+"-"+string(c.Direction())+".wav")
		lvl := toneIn(t, path, baresipHz)
		t.Logf("callstat heard baresip's %d Hz at %.3f (%s call)", baresipHz, lvl, c.Direction())
		if lvl < toneFloor {
			t.Errorf("callstat's %s call: baresip's %d Hz at %.3f, want ≥ %.2f", c.Direction(), baresipHz, lvl, toneFloor)
		}
	}
	if t.Failed() {
		t.Logf("rtpengine:\n%s", rtpe.Output())
	}
}

// checkBaresipHeard: baresip's recording of what it decoded in one call
// has callstat's tone.
func checkBaresipHeard(t *testing.T, files []string, what string) {
	t.Helper()
	if len(files) != 1 {
		t.Errorf("%s: baresip's recordings of what it heard: %v, want one", what, files)
		return
	}
	lvl := toneIn(t, files[0], callstatHz)
	t.Logf("baresip heard callstat's %d Hz at %.3f (%s)", callstatHz, lvl, what)
	if lvl < toneFloor {
		t.Errorf("%s: baresip heard callstat's %d Hz at %.3f, want ≥ %.2f", what, callstatHz, lvl, toneFloor)
	}
}

// statNumber is a field of the first stats object of a type.
func statNumber(c *call.Call, typ, field string) float64 {
	r, err := c.CollectStats()
	if err != nil {
		return 0
	}
	for _, o := range r.Objects {
		if o.Type() == typ {
			n, _ := o.Number(field)
			return n
		}
	}
	return 0
}

// logStats logs the figures of a call's stats that say media flows.
func logStats(t *testing.T, c *call.Call) {
	t.Helper()
	t.Logf("callstat %s call: inbound packetsReceived=%.0f packetsLost=%.0f jitter=%.4fs; outbound packetsSent=%.0f; remote-inbound packetsLost=%.0f roundTripTime=%.4fs; candidate-pair currentRoundTripTime=%.4fs",
		c.Direction(), statNumber(c, "inbound-rtp", "packetsReceived"), statNumber(c, "inbound-rtp", "packetsLost"),
		statNumber(c, "inbound-rtp", "jitter"), statNumber(c, "outbound-rtp", "packetsSent"),
		statNumber(c, "remote-inbound-rtp", "packetsLost"), statNumber(c, "remote-inbound-rtp", "roundTripTime"),
		statNumber(c, "candidate-pair", "currentRoundTripTime"))
}
