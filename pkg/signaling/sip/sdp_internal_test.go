package sip

import (
	"strings"
	"testing"
)

// pionOffer is what pion offers without trickle: placeholders in m= and
// c=, every candidate listed.
const pionOffer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\n" +
	"a=rtpmap:111 opus/48000/2\r\na=sendrecv\r\n" +
	"a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n" +
	"a=candidate:2 1 udp 1694498815 198.51.100.7 50001 typ srflx raddr 127.0.0.1 rport 50000\r\n" +
	"a=candidate:3 1 udp 2130706431 fe80::1 50002 typ host\r\n" +
	"a=candidate:4 2 udp 16777215 203.0.113.9 50003 typ relay raddr 0.0.0.0 rport 0\r\n" +
	"a=candidate:5 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active\r\n" +
	"a=end-of-candidates\r\n"

func TestWithDefaultCandidate(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // lines the result has
		same     bool     // returned unchanged
	}{
		{name: "srflx beats host; component 2 and TCP ignored", in: pionOffer,
			want: []string{"m=audio 50001 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 198.51.100.7"}},
		{name: "IPv6 host", in: strings.NewReplacer("a=candidate:1 ", "a=x:", "a=candidate:2 ", "a=x:").Replace(pionOffer),
			want: []string{"m=audio 50002 ", "c=IN IP6 fe80::1"}},
		{name: "no candidates", in: strings.ReplaceAll(pionOffer, "a=candidate:", "a=x:"), same: true},
		{name: "rejected stream", in: strings.Replace(pionOffer, "m=audio 9", "m=audio 0", 1), same: true},
		{name: "not SDP", in: "hello", same: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := withDefaultCandidate(tt.in)
			if tt.same {
				if got != tt.in {
					t.Errorf("changed:\n%s", got)
				}
				return
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("no %q in\n%s", w, got)
				}
			}
			if strings.Contains(got, "0.0.0.0\r\nm=") || strings.Contains(got, "m=audio 9 ") {
				t.Errorf("placeholders left in\n%s", got)
			}
			if _, err := CheckSDP([]byte(strings.Replace(got, "a=ice-ufrag:u", "a=ice-ufrag:u\r\na=fingerprint:sha-256 AA", 1))); err != nil {
				t.Errorf("the result no longer checks: %v", err)
			}
		})
	}
}

func TestBundleForPion(t *testing.T) {
	plain := strings.Replace(pionOffer, "a=group:BUNDLE 0\r\n", "", 1)
	tests := []struct {
		name, in string
		added    bool
	}{
		{name: "no group, one stream with a mid", in: plain, added: true},
		{name: "a group already", in: pionOffer},
		{name: "no mid", in: strings.Replace(plain, "a=mid:0\r\n", "", 1)},
		{name: "two streams", in: plain + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\n"},
		{name: "not SDP", in: "hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, added := bundleForPion(tt.in)
			if added != tt.added {
				t.Fatalf("added = %v, want %v", added, tt.added)
			}
			if !added {
				if got != tt.in {
					t.Errorf("changed:\n%s", got)
				}
				return
			}
			if !strings.Contains(got, "a=group:BUNDLE 0") {
				t.Errorf("no BUNDLE group in\n%s", got)
			}
			if back := withoutBundle(got); strings.Contains(back, "a=group:") || !strings.Contains(back, "a=mid:0") {
				t.Errorf("withoutBundle:\n%s", back)
			}
		})
	}
}

// FuzzCheckSDP: reading an SDP body from the server never panics —
// checking it, and preparing an offer for pion — and anything CheckSDP
// accepts has an audio stream with a codec.
func FuzzCheckSDP(f *testing.F) {
	good := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n" +
		"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 0F:74\r\na=setup:active\r\na=mid:0\r\n" +
		"a=sendrecv\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
	f.Add([]byte(good))
	f.Add([]byte(strings.Replace(good, "a=fingerprint", "a=x", 1)))
	f.Add([]byte(pionOffer))
	f.Add([]byte("v=0\r\nm=audio 1 RTP/AVP 0\r\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		info, err := CheckSDP(body)
		if err == nil && len(info.Codecs) == 0 {
			t.Errorf("accepted an SDP without codecs: %q", body)
		}
		offer, _ := bundleForPion(string(body))
		_ = withoutBundle(offer)
		_ = withDefaultCandidate(string(body))
	})
}
