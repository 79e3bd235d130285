package call

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/mdns/v2"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Browsers hide their host addresses behind mDNS names
// (draft-ietf-mmusic-mdns-ice-candidates): Firefox offers nothing else.
// callstat resolves such a candidate itself and hands pion the address, with
// one resolver per phone, made when the first .local candidate arrives:
// pion's own mDNS mode opens a multicast socket (and its goroutines) for
// every connection, which hundreds of calls would pay for nothing. pion's
// mDNS stays disabled, so callstat's own host candidates keep their
// addresses.

// mdnsTimeout bounds the resolution of one name: a far end that answers
// answers within a few query intervals.
const mdnsTimeout = 5 * time.Second

// mdnsResolver resolves .local names with multicast DNS queries.
type mdnsResolver struct {
	conn *mdns.Conn
}

// newMDNSResolver opens the phone's resolver. With loopback, its queries
// go out on the loopback interfaces only: --ice-loopback promises that no
// packet leaves the host.
func newMDNSResolver(pnet *phoneNet, loopback bool, lf logging.LoggerFactory) (*mdnsResolver, error) {
	var ifcs []net.Interface
	if loopback {
		list, _ := pnet.Interfaces()
		for _, ifc := range list {
			if ifc.Flags&net.FlagLoopback != 0 {
				ifcs = append(ifcs, ifc.Interface)
			}
		}
	}
	// Binding the multicast address makes Go set SO_REUSEADDR: the port is
	// shared with the host's own responder and other processes.
	var v4 *ipv4.PacketConn
	var v6 *ipv6.PacketConn
	if addr, err := net.ResolveUDPAddr("udp4", mdns.DefaultAddressIPv4); err == nil {
		if l, err := pnet.ListenUDP("udp4", addr); err == nil {
			v4 = ipv4.NewPacketConn(l)
		}
	}
	if addr, err := net.ResolveUDPAddr("udp6", mdns.DefaultAddressIPv6); err == nil {
		if l, err := pnet.ListenUDP("udp6", addr); err == nil {
			v6 = ipv6.NewPacketConn(l)
		}
	}
	if v4 == nil && v6 == nil {
		return nil, fmt.Errorf("%w: cannot listen for multicast DNS on port 5353", ErrMediaFailure)
	}
	opts := []mdns.ServerOption{
		mdns.WithRecordTypes(dnsmessage.TypeA, dnsmessage.TypeAAAA),
		mdns.WithIncludeLoopback(loopback),
		mdns.WithCacheRefresh(false),
		mdns.WithLoggerFactory(lf),
	}
	if len(ifcs) > 0 {
		opts = append(opts, mdns.WithInterfaces(ifcs...))
	}
	conn, err := mdns.NewServer(v4, v6, opts...)
	if err != nil {
		if v4 != nil {
			_ = v4.Close()
		}
		if v6 != nil {
			_ = v6.Close()
		}
		return nil, fmt.Errorf("%w: multicast DNS: %v", ErrMediaFailure, err)
	}
	return &mdnsResolver{conn: conn}, nil
}

// resolve returns the address of name.
func (r *mdnsResolver) resolve(ctx context.Context, name string) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, mdnsTimeout)
	defer cancel()
	_, addr, err := r.conn.QueryAddr(ctx, name)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolving %s: %w", name, err)
	}
	return addr.Unmap(), nil
}

func (r *mdnsResolver) close() error { return r.conn.Close() }

// mdnsResolver returns the phone's resolver, opening it on first use.
func (p *Phone) mdnsResolver() (*mdnsResolver, error) {
	p.mdnsMu.Lock()
	defer p.mdnsMu.Unlock()
	if p.mdnsClosed {
		return nil, ErrClosed
	}
	if p.mdns == nil {
		r, err := newMDNSResolver(p.pnet, p.cfg.ICELoopback, PionLoggerFactory{Logger: p.log})
		if err != nil {
			return nil, err
		}
		p.mdns = r
	}
	return p.mdns, nil
}

// closeMDNS closes the phone's resolver, if it was opened; none opens
// after.
func (p *Phone) closeMDNS() {
	p.mdnsMu.Lock()
	defer p.mdnsMu.Unlock()
	p.mdnsClosed = true
	if p.mdns != nil {
		_ = p.mdns.close()
		p.mdns = nil
	}
}

// candidateAddress returns the address field of an ICE candidate line
// ("candidate:<foundation> <component> <transport> <priority> <address>
// <port> typ ..."), with or without the "a=" and "candidate:" prefixes.
func candidateAddress(line string) string {
	f := strings.Fields(line)
	if len(f) < 6 {
		return ""
	}
	return f[4]
}

// isMDNSCandidate reports whether a candidate line names its address by an
// mDNS name.
func isMDNSCandidate(line string) bool {
	return strings.HasSuffix(strings.ToLower(candidateAddress(line)), ".local")
}

// withCandidateAddress returns the candidate line with its address
// replaced.
func withCandidateAddress(line, addr string) string {
	f := strings.Fields(line)
	if len(f) < 6 {
		return line
	}
	f[4] = addr
	return strings.Join(f, " ")
}

// splitMDNSCandidates removes the a=candidate lines with mDNS names from a
// description, and returns them with the media section they were in (pion
// would drop them with a warning).
func splitMDNSCandidates(sdp string) (string, []remoteCandidate) {
	if !strings.Contains(sdp, ".local") {
		return sdp, nil
	}
	media, sessionUfrag := parseSDP(sdp)
	var out strings.Builder
	var found []remoteCandidate
	index := -1
	for line := range strings.SplitAfterSeq(sdp, "\n") {
		bare := strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(bare, "m=") {
			index++
		}
		if strings.HasPrefix(bare, "a=candidate:") && isMDNSCandidate(bare) {
			rc := remoteCandidate{line: strings.TrimPrefix(bare, "a="), mLine: index, ufrag: sessionUfrag}
			if index >= 0 && index < len(media) {
				rc.mid, rc.ufrag = media[index].mid, media[index].ufrag
			}
			found = append(found, rc)
			continue
		}
		out.WriteString(line)
	}
	return out.String(), found
}

// remoteCandidate is a far-end candidate waiting to be resolved.
type remoteCandidate struct {
	line  string // "candidate:..."
	mid   string
	mLine int
	ufrag string
}

// parseCandidate parses a candidate line for what the stats need.
func parseCandidate(line string) (ice.Candidate, error) {
	return ice.UnmarshalCandidate(strings.TrimPrefix(strings.TrimPrefix(line, "a="), "candidate:"))
}
