package call

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pion/transport/v5/test"

	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/stats"
)

// firefoxOffer is the offer Firefox ESR makes for one audio track: Opus as
// payload type 109, asking for stereo, with only mDNS host candidates.
func firefoxOffer(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../testdata/sdp/firefox-esr-offer.sdp")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNegotiate(t *testing.T) {
	const ours = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
	opus := codecDesc{pt: 111, mimeType: "audio/opus", clock: 48000, channels: 2, fmtp: "minptime=10;useinbandfec=1"}
	for _, tc := range []struct {
		name           string
		local, remote  string
		want           []negotiatedCodec
		wantRecv, send map[uint8]string
	}{
		{
			name: "same codec both ways", local: ours, remote: ours,
			want:     []negotiatedCodec{{"codec-111", opus}},
			wantRecv: map[uint8]string{111: "codec-111"}, send: map[uint8]string{111: "codec-111"},
		},
		{
			name:  "Firefox offer, our answer",
			local: "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 109\r\na=mid:0\r\na=rtpmap:109 opus/48000/2\r\na=fmtp:109 minptime=10;useinbandfec=1\r\n",
			remote: "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101\r\na=mid:0\r\na=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1\r\n" +
				"a=rtpmap:109 opus/48000/2\r\na=rtpmap:9 G722/8000/1\r\na=rtpmap:0 PCMU/8000\r\n",
			want: []negotiatedCodec{
				{"codec-109-recv", codecDesc{pt: 109, mimeType: "audio/opus", clock: 48000, channels: 2, fmtp: "minptime=10;useinbandfec=1"}},
				{"codec-109-send", codecDesc{pt: 109, mimeType: "audio/opus", clock: 48000, channels: 2, fmtp: "maxplaybackrate=48000;stereo=1;useinbandfec=1"}},
			},
			wantRecv: map[uint8]string{109: "codec-109-recv"}, send: map[uint8]string{109: "codec-109-send"},
		},
		{
			name:  "mono codec without fmtp, sections matched by position",
			local: "v=0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", remote: "v=0\r\nm=audio 9 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n",
			want:     []negotiatedCodec{{"codec-0", codecDesc{pt: 0, mimeType: "audio/PCMU", clock: 8000, channels: 1}}},
			wantRecv: map[uint8]string{0: "codec-0"}, send: map[uint8]string{0: "codec-0"},
		},
		{
			name: "nothing in common", local: ours, remote: strings.ReplaceAll(ours, "111", "96"),
			wantRecv: map[uint8]string{}, send: map[uint8]string{},
		},
		{
			name: "no remote description yet", local: ours, remote: "",
			wantRecv: map[uint8]string{}, send: map[uint8]string{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := negotiate(tc.local, tc.remote)
			if !reflect.DeepEqual(got.objs, tc.want) || !reflect.DeepEqual(got.recv, tc.wantRecv) || !reflect.DeepEqual(got.send, tc.send) {
				t.Errorf("negotiate:\n got %+v\nwant %+v %v %v", got, tc.want, tc.wantRecv, tc.send)
			}
		})
	}
}

// rawCaller places a call from a bare signaling connection with the offer
// given, and returns the answer callstat sends.
func rawCaller(t *testing.T, url, callee, offer string) (h *hostile, callID, answer string) {
	t.Helper()
	h = dialHostile(t, url)
	callID = uuid.NewString()
	h.send(signaling.Message{Type: signaling.TypeCall, CallID: callID, From: "firefox@example.com", To: callee, SDP: offer})
	for {
		m := h.read()
		switch m.Type {
		case signaling.TypeAnswer:
			return h, callID, m.SDP
		case signaling.TypeEnd, signaling.TypeError, signaling.TypeReject:
			t.Fatalf("call ended before the answer: %+v", m)
		}
	}
}

// A far end that offers stereo gets an answer that asks for what callstat
// wants (no stereo=1), on the far end's payload type; the report's codec
// objects say what each direction uses.
func TestAnswerToFirefoxOffer(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	report := test.CheckRoutines(t)
	defer report()

	url, _, stopServer := testServer(t)
	defer stopServer()
	src := testSource(t, "tone")
	defer src.Close()
	alice := newTestPhone(t, url, "alice@example.com", true, src, Hooks{})
	answering := autoAnswer(t, alice)
	defer func() {
		_ = alice.Close()
		answering.Wait()
	}()

	h, callID, answer := rawCaller(t, url, "alice@example.com", firefoxOffer(t))
	defer func() { _ = h.ws.Close() }()
	media, _ := parseSDP(answer)
	if len(media) != 1 || !reflect.DeepEqual(media[0].formats, []uint8{109}) {
		t.Fatalf("answer's audio formats: %+v", media)
	}
	if got := media[0].fmtp[109]; got != "minptime=10;useinbandfec=1" {
		t.Errorf("answer a=fmtp:109 %s, want callstat's own minptime=10;useinbandfec=1 (no stereo=1)", got)
	}
	if got := media[0].rtpmap[109]; got != "opus/48000/2" {
		t.Errorf("answer a=rtpmap:109 %s", got)
	}

	calls := alice.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	r, err := calls[0].CollectStats()
	if err != nil {
		t.Fatal(err)
	}
	codecs := map[string]stats.Object{}
	for _, o := range r.Objects {
		if o.Type() == "codec" {
			codecs[o.ID()] = o
		}
	}
	for id, fmtp := range map[string]string{"codec-109-recv": "minptime=10;useinbandfec=1", "codec-109-send": "maxplaybackrate=48000;stereo=1;useinbandfec=1"} {
		o, ok := codecs[id]
		if !ok {
			t.Errorf("no %s among %v", id, codecs)
			continue
		}
		if pt, _ := o.Number("payloadType"); pt != 109 || o["sdpFmtpLine"] != fmtp || o["mimeType"] != "audio/opus" {
			t.Errorf("%s: %v", id, o)
		}
	}
	if len(codecs) != 2 {
		t.Errorf("%d codec objects, want 2: %v", len(codecs), codecs)
	}
	if d := danglingReferences(r.Objects); len(d) > 0 {
		t.Errorf("dangling references: %v", d)
	}
	h.send(signaling.Message{Type: signaling.TypeEnd, CallID: callID, Status: signaling.StatusNormal})
	wait(t, calls[0].Done(), "the call's end")
}
