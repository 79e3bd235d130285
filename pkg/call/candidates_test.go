package call

import (
	"net"
	"testing"
	"testing/fstest"
)

func TestClassifyInterface(t *testing.T) {
	sys := fstest.MapFS{
		"eth0/type":            {Data: []byte("1\n")},
		"wlan0/type":           {Data: []byte("1\n")},
		"wlan0/wireless":       {Mode: 0o755 | 1<<31},
		"wlp2s0/type":          {Data: []byte("1\n")},
		"wlp2s0/phy80211/name": {Data: []byte("phy0\n")},
		"wwan0/type":           {Data: []byte("1\n")},
		"wwan0/uevent":         {Data: []byte("DEVTYPE=wwan\nINTERFACE=wwan0\n")},
		"tun0/type":            {Data: []byte("65534\n")},
		"wg0/type":             {Data: []byte("65534\n")},
		"ppp0/type":            {Data: []byte("512\n")},
		"lo/type":              {Data: []byte("772\n")},
		"sit0/type":            {Data: []byte("776\n")},
		"odd/type":             {Data: []byte("ether\n")},
	}
	for _, tc := range []struct {
		name  string
		flags net.Flags
		want  string
	}{
		{"eth0", 0, "ethernet"},
		{"wlan0", 0, "wifi"},
		{"wlp2s0", 0, "wifi"},
		{"wwan0", 0, "cellular"},
		{"tun0", 0, "vpn"},
		{"wg0", 0, "vpn"},
		{"ppp0", 0, "vpn"},
		{"lo", net.FlagLoopback, ""},
		{"lo", 0, ""},
		{"sit0", 0, ""},
		{"odd", 0, ""},
		{"missing", 0, ""},
		{"../etc", 0, ""},
	} {
		if got := classifyInterface(sys, tc.name, tc.flags); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestPairPriority(t *testing.T) {
	// RFC 8445 §6.1.2.3: 2^32·MIN(G,D) + 2·MAX(G,D) + (G>D ? 1 : 0), G the
	// controlling agent's candidate.
	for _, tc := range []struct {
		local, remote uint32
		controlling   bool
		want          uint64
	}{
		{2130706431, 2130706431, true, 2130706431<<32 + 2*2130706431},
		{2130706431, 1694498815, true, 1694498815<<32 + 2*2130706431 + 1},
		{2130706431, 1694498815, false, 1694498815<<32 + 2*2130706431},
		{1, 2, false, 1<<32 + 4 + 1},
	} {
		if got := pairPriority(tc.local, tc.remote, tc.controlling); got != tc.want {
			t.Errorf("pairPriority(%d, %d, %v) = %d, want %d", tc.local, tc.remote, tc.controlling, got, tc.want)
		}
	}
}

func TestCandidateBook(t *testing.T) {
	var b candidateBook
	b.addRemoteSDP("v=0\r\na=ice-ufrag:sess\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:media\r\n" +
		"a=candidate:842163049 1 udp 1677729535 192.0.2.1 3478 typ srflx raddr 10.0.0.1 rport 50000\r\n" +
		"a=candidate:1 1 tcp 1518280447 192.0.2.2 9 typ host tcptype active\r\n")
	b.addRemote("candidate:7 1 udp 2122260223 192.0.2.3 5000 typ host ufrag trickled", "")
	for _, tc := range []struct {
		key  candidateKey
		want candidateInfo
	}{
		{candidateKey{"192.0.2.1", 3478, "udp", "srflx"}, candidateInfo{foundation: "842163049", ufrag: "media"}},
		{candidateKey{"192.0.2.2", 9, "tcp", "host"}, candidateInfo{foundation: "1", ufrag: "media", tcpType: "active"}},
		{candidateKey{"192.0.2.3", 5000, "udp", "host"}, candidateInfo{foundation: "7", ufrag: "trickled"}},
	} {
		if got, ok := b.remoteInfo(tc.key); !ok || got != tc.want {
			t.Errorf("%+v: %+v, want %+v", tc.key, got, tc.want)
		}
	}
	if _, ok := b.remoteInfo(candidateKey{"192.0.2.9", 1, "udp", "prflx"}); ok {
		t.Error("a candidate never described has information")
	}
}
