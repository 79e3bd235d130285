package call

import (
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/pion/webrtc/v4"
)

// What the stats of an ICE candidate need that pion's do not carry
// (foundation, username fragment, TCP type, network type), kept per call
// as the candidates are gathered or learned: local ones by the id pion
// reports them under, remote ones by their address, as pion gives them
// ids of its own.

// candidateInfo is what a candidate's stats add to pion's.
type candidateInfo struct {
	foundation  string
	ufrag       string // remote candidates; ours all have the local description's
	tcpType     string // "active", "passive", "so"; "" for UDP
	networkType string // local candidates: the base's interface, "" when unknown
}

// candidateKey names a remote candidate as pion's stats show it.
type candidateKey struct {
	addr     string
	port     int32
	protocol string // "udp", "tcp"
	typ      string // "host", "srflx", "prflx", "relay"
}

// candidateBook is a call's candidates.
type candidateBook struct {
	mu     sync.Mutex
	local  map[string]candidateInfo // by stats id
	remote map[candidateKey]candidateInfo
}

// addLocal notes one of our gathered candidates.
func (b *candidateBook) addLocal(c *webrtc.ICECandidate, pnet *phoneNet) {
	ic, err := c.ToICE()
	if err != nil {
		return
	}
	info := candidateInfo{foundation: c.Foundation}
	if c.Protocol == webrtc.ICEProtocolTCP && c.TCPType != "" {
		info.tcpType = c.TCPType
	}
	// The base of a server-reflexive or relayed candidate is its related
	// address, on one of our interfaces.
	base := c.Address
	if c.Typ != webrtc.ICECandidateTypeHost && c.RelatedAddress != "" {
		base = c.RelatedAddress
	}
	if pnet != nil {
		info.networkType = pnet.networkType(net.ParseIP(base))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.local == nil {
		b.local = map[string]candidateInfo{}
	}
	b.local[ic.ID()] = info
}

// addRemote notes a far-end candidate line, with the username fragment of
// the description or message that carried it.
func (b *candidateBook) addRemote(line, ufrag string) {
	c, err := parseCandidate(line)
	if err != nil {
		return
	}
	info := candidateInfo{foundation: c.Foundation(), ufrag: ufrag}
	if c.NetworkType().IsTCP() {
		info.tcpType = c.TCPType().String()
	}
	if u, ok := candidateUfrag(line); ok {
		info.ufrag = u
	}
	key := candidateKey{addr: c.Address(), port: int32(c.Port()), protocol: c.NetworkType().NetworkShort(), typ: c.Type().String()} //nolint:gosec // a port
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.remote == nil {
		b.remote = map[candidateKey]candidateInfo{}
	}
	b.remote[key] = info
}

// addRemoteSDP notes every candidate of a far-end description.
func (b *candidateBook) addRemoteSDP(sdp string) {
	media, sessionUfrag := parseSDP(sdp)
	index := -1
	for line := range strings.SplitSeq(sdp, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.HasPrefix(line, "m=") {
			index++
			continue
		}
		if rest, ok := strings.CutPrefix(line, "a=candidate:"); ok {
			ufrag := sessionUfrag
			if index >= 0 && index < len(media) {
				ufrag = media[index].ufrag
			}
			b.addRemote("candidate:"+rest, ufrag)
		}
	}
}

func (b *candidateBook) localInfo(id string) candidateInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.local[id]
}

func (b *candidateBook) remoteInfo(k candidateKey) (candidateInfo, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	info, ok := b.remote[k]
	return info, ok
}

// candidateUfrag is the "ufrag" extension of a candidate line, which
// browsers add to trickled candidates.
func candidateUfrag(line string) (string, bool) {
	f := strings.Fields(line)
	for k := 0; k+1 < len(f); k++ {
		if f[k] == "ufrag" {
			return f[k+1], true
		}
	}
	return "", false
}

// sysClassNet is where Linux describes network interfaces.
var sysClassNet fs.FS = os.DirFS("/sys/class/net")

// networkType is W3C's RTCNetworkType of the interface that holds ip:
// "wifi" for a wireless one, "ethernet" for another Ethernet-like one,
// "vpn" for a tunnel (tun, ppp, WireGuard: no link-layer header),
// "cellular" for a WWAN modem; "" when the address is on no interface
// we know of or on the loopback one (no W3C type fits).
func (n *phoneNet) networkType(ip net.IP) string {
	if ip == nil {
		return ""
	}
	list, _ := n.Interfaces()
	for _, ifc := range list {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(ip) {
				return classifyInterface(sysClassNet, ifc.Name, ifc.Flags)
			}
		}
	}
	return ""
}

// ARP hardware types (linux/if_arp.h) that classifyInterface tells apart.
const (
	arphrdEther    = 1
	arphrdPPP      = 512
	arphrdLoopback = 772
	arphrdNone     = 65534 // tun devices, WireGuard
)

// classifyInterface reads the interface's kind from sysfs (the root
// given as sys, /sys/class/net on Linux).
func classifyInterface(sys fs.FS, name string, flags net.Flags) string {
	if flags&net.FlagLoopback != 0 || !fs.ValidPath(name) {
		return ""
	}
	if _, err := fs.Stat(sys, name+"/wireless"); err == nil {
		return "wifi"
	}
	if _, err := fs.Stat(sys, name+"/phy80211"); err == nil {
		return "wifi"
	}
	if dt, err := fs.ReadFile(sys, name+"/uevent"); err == nil && strings.Contains(string(dt), "DEVTYPE=wwan") {
		return "cellular"
	}
	raw, err := fs.ReadFile(sys, name+"/type")
	if err != nil {
		return ""
	}
	typ, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return ""
	}
	switch typ {
	case arphrdEther:
		return "ethernet"
	case arphrdPPP, arphrdNone:
		return "vpn"
	case arphrdLoopback:
		return ""
	}
	return ""
}
