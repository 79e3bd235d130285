package call

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"

	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/stats"
)

// mdnsPeer is a far end that hides its addresses behind mDNS names, as
// browsers do (Firefox offers nothing else). It stays on the loopback
// interface, its mDNS answers too.
func mdnsPeer(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryAndGather)
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool {
		ifc, err := net.InterfaceByName(name)
		return err == nil && ifc.Flags&net.FlagLoopback != 0
	})
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: audio.OpusCodec, PayloadType: 109}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	track, err := webrtc.NewTrackLocalStaticSample(audio.OpusCodec, "audio", "peer")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	return pc
}

// A far end that offers only mDNS candidates reaches a callstat that keeps
// ICE on loopback: callstat resolves the names itself.
func TestCallFromMDNSCandidates(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	report := test.CheckRoutines(t)
	defer report()

	url, _, stopServer := testServer(t)
	defer stopServer()
	src := testSource(t, "tone")
	defer src.Close()
	alice := newTestPhone(t, url, "alice@example.com", true, src, Hooks{}) // ICELoopback
	answering := autoAnswer(t, alice)
	defer func() {
		_ = alice.Close()
		answering.Wait()
	}()

	peer := mdnsPeer(t)
	defer func() { _ = peer.Close() }()
	connected := make(chan struct{})
	peer.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			close(connected)
		}
	})
	offer, err := peer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(peer)
	if err := peer.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	sdp := peer.LocalDescription().SDP
	var names []string
	for line := range strings.SplitSeq(sdp, "\r\n") {
		if strings.HasPrefix(line, "a=candidate:") {
			if !isMDNSCandidate(line) {
				t.Fatalf("the peer offers a plain address: %s", line)
			}
			names = append(names, line)
		}
	}
	if len(names) == 0 {
		t.Fatal("the peer offers no candidate")
	}

	h, callID, answer := rawCaller(t, url, "alice@example.com", sdp)
	defer func() { _ = h.ws.Close() }()
	if err := peer.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	wait(t, connected, "the mDNS peer to connect")
	calls := alice.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	c := calls[0]
	wait(t, c.Connected(), "callstat's call to connect")

	// The far end's candidate, as callstat reports it: the address it
	// resolved, with what the offer said of it.
	offered, err := parseCandidate(names[0])
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CollectStats()
	if err != nil {
		t.Fatal(err)
	}
	var remote stats.Object
	for _, o := range r.Objects {
		if o.Type() == "remote-candidate" && o["candidateType"] == "host" {
			remote = o
		}
	}
	if remote == nil {
		t.Fatalf("no remote host candidate in %v", r.Objects)
	}
	if remote["address"] != "127.0.0.1" || remote["foundation"] != offered.Foundation() || remote["isRemote"] != true ||
		remote["usernameFragment"] != sdpAttr(sdp, "ice-ufrag") {
		t.Errorf("remote candidate %v; offered %s", remote, names[0])
	}
	if d := danglingReferences(r.Objects); len(d) > 0 {
		t.Errorf("dangling references: %v", d)
	}
	h.send(signaling.Message{Type: signaling.TypeEnd, CallID: callID, Status: signaling.StatusNormal})
	wait(t, c.Done(), "the call's end")
}

func TestMDNSCandidateLines(t *testing.T) {
	offer := "v=0\r\na=ice-ufrag:sess\r\nm=audio 9 UDP/TLS/RTP/SAVPF 109\r\na=ice-ufrag:abcd\r\n" +
		"a=candidate:0 1 UDP 2122252543 533a936e-5beb-4fe5-a86b-81feabae0260.local 49203 typ host\r\n" +
		"a=candidate:2 1 UDP 2122252543 192.0.2.7 49204 typ host\r\na=mid:0\r\n"
	rest, named := splitMDNSCandidates(offer)
	if strings.Contains(rest, ".local") || !strings.Contains(rest, "192.0.2.7") || !strings.HasSuffix(rest, "a=mid:0\r\n") {
		t.Errorf("description without mDNS candidates:\n%s", rest)
	}
	if len(named) != 1 || named[0].mid != "0" || named[0].ufrag != "abcd" || named[0].mLine != 0 ||
		named[0].line != "candidate:0 1 UDP 2122252543 533a936e-5beb-4fe5-a86b-81feabae0260.local 49203 typ host" {
		t.Fatalf("mDNS candidates: %+v", named)
	}
	if got := withCandidateAddress(named[0].line, "127.0.0.1"); got != "candidate:0 1 UDP 2122252543 127.0.0.1 49203 typ host" {
		t.Errorf("resolved: %s", got)
	}
	if same, none := splitMDNSCandidates("v=0\r\n"); same != "v=0\r\n" || none != nil {
		t.Errorf("a description without names changed: %q %v", same, none)
	}
}
