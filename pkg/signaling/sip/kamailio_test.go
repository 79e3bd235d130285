package sip_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/sipkit"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/signaling"
)

// TestKamailioCall: two callstat phones register with Kamailio over
// WebSocket (digest MD5) and call each other; audio flows both ways and
// each side hears the other's tone.
func TestKamailioCall(t *testing.T) {
	checkRoutines(t)
	k := sipkit.StartKamailio(t, sipkit.KamailioOptions{})
	dir := t.TempDir()
	callerRec, calleeRec := newRecorder(), newRecorder()
	bob := mustPhone(t, phoneOpts{url: k.URL, user: "bob", register: true, src: testSource(t, "tone:600"), hooks: calleeRec.hooks(), record: dir})
	answering := answerer(t, bob, answer(t))
	alice := mustPhone(t, phoneOpts{url: k.URL, user: "alice", register: true, src: testSource(t, "tone:1000"), hooks: callerRec.hooks(), record: dir})

	c, err := alice.Dial(context.Background(), "bob@"+sipkit.Domain)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, c.Connected(), "caller Connected")
	eventually(t, 10*time.Second, "audio both ways", func() bool {
		calls := bob.Calls()
		return inbound(c) > 100 && len(calls) == 1 && inbound(calls[0]) > 100
	})
	bobCall := bob.Calls()[0]
	if bobCall.ID() != c.ID() {
		t.Errorf("callee call id %s, caller %s: the SIP Call-ID is the call id", bobCall.ID(), c.ID())
	}
	if got := bobCall.Remote(); got != aor("alice") {
		t.Errorf("callee sees the call from %q, want %q", got, aor("alice"))
	}
	c.Hangup("test done")
	waitFor(t, c.Done(), "caller Done")
	waitFor(t, bobCall.Done(), "callee Done")
	for _, cc := range []*call.Call{c, bobCall} {
		if err := cc.Err(); err != nil {
			t.Errorf("%s: err %v", cc.Direction(), err)
		}
	}
	if got, want := strings.Join(callerRec.states(c.ID()), ","), "Initiated,Ringing,Connected,Ended"; got != want {
		t.Errorf("caller states %s, want %s", got, want)
	}
	if got, want := strings.Join(calleeRec.states(c.ID()), ","), "Ringing,Connected,Ended"; got != want {
		t.Errorf("callee states %s, want %s", got, want)
	}
	if tr := bobCall.Transition(); tr.StatusCode != signaling.StatusNormal {
		t.Errorf("callee's end: %+v, want 200", tr)
	}
	_ = alice.Close()
	_ = bob.Close()
	answering.Wait()
	if lvl := toneIn(t, filepath.Join(dir, c.ID()+"-outgoing.wav"), 600); lvl < 0.05 {
		t.Errorf("caller heard the callee's 600 Hz at %.3f", lvl)
	}
	if lvl := toneIn(t, filepath.Join(dir, c.ID()+"-incoming.wav"), 1000); lvl < 0.05 {
		t.Errorf("callee heard the caller's 1000 Hz at %.3f", lvl)
	}
}
