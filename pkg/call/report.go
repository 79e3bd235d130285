package call

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/callstat/callstat/pkg/call/rtcpxr"
	"github.com/callstat/callstat/pkg/call/rtpstats"
	"github.com/callstat/callstat/pkg/stats"
)

// transportID is the id pion gives its only transport (calls bundle every
// stream on one): every transportId in a report points to it.
const transportID = "iceTransport"

// CollectStats samples the call for the stats collector: the call state and
// a complete W3C report of its PeerConnection (docs/stats-file.md lists
// every field). pion's GetStats is the starting point; the objects it
// lacks or leaves half empty are built here, one function per stats type,
// from the PeerConnection's own interceptors. Every cross-reference
// (transportId, codecId, localId/remoteId, mediaSourceId,
// selectedCandidatePairId, …) names an object of the same report. It fails
// once the connection is closed, which ends collection as the seed's
// getStats failure does.
func (c *Call) CollectStats() (stats.Report, error) {
	c.mu.Lock()
	state, closed, sender := c.state, c.tornDown, c.sender
	c.mu.Unlock()
	if closed || c.pc == nil {
		return stats.Report{}, fmt.Errorf("%w: call %s has no open peer connection", ErrInvalidState, c.id)
	}
	// One report at a time per call: they share its cache.
	c.cache.mu.Lock()
	b := c.newReportBuilder(sender)
	objs := b.build()
	c.cache.lastCount = len(objs)
	c.cache.mu.Unlock()
	// The audio measurements (levels, energy, samples, concealment) come
	// from the audio source and receiver, into the objects built above.
	objs = c.addAudioStats(objs)
	stats.SortObjects(objs)
	return stats.Report{State: state.String(), Objects: objs}, nil
}

// collectTrackStats is CollectStats narrowed to one track, local (the audio
// this call sends) or remote (the audio it receives), as the seed SDK's
// getStats(callId, trackId): the track's streams and every object they
// refer to. It wraps stats.ErrTrackNotFound for a track the call does not
// have.
func (c *Call) collectTrackStats(trackID string) (stats.Report, error) {
	r, err := c.CollectStats()
	if err != nil {
		return r, err
	}
	objs, err := stats.NarrowToTrack(r.Objects, trackID)
	if err != nil {
		return stats.Report{}, fmt.Errorf("call %s: %w", c.id, err)
	}
	r.Objects = objs
	return r, nil
}

// LocalTrackID is the id of the audio track this call sends ("" before
// the track is attached).
func (c *Call) LocalTrackID() string {
	c.mu.Lock()
	s := c.sender
	c.mu.Unlock()
	if s == nil || s.Track() == nil {
		return ""
	}
	return s.Track().ID()
}

// remoteTrackIDs are the ids of the tracks the far end sends, as its SDP
// names them.
func (c *Call) remoteTrackIDs() []string {
	if c.pc == nil {
		return nil
	}
	var ids []string
	for _, r := range c.pc.GetReceivers() {
		for _, t := range r.Tracks() {
			if t.SSRC() != 0 {
				ids = append(ids, t.ID())
			}
		}
	}
	return ids
}

// reportCache keeps, per call, what its reports need that does not change
// from one sample to the next and is costly to work out each second: the
// figures taken from the session descriptions, the far end's certificate
// as reported, and the ids of the streams. A sample costs about as much as
// pion's GetStats plus building the maps; everything else comes from
// here (docs/BENCHMARKS.md).
type reportCache struct {
	mu        sync.Mutex
	sdp       bool   // both descriptions were applied: the fields below are final
	dtlsRole  string // from the descriptions' a=setup
	ufrag     string // our a=ice-ufrag
	peerDER   []byte // the far end's certificate, as last reported
	peerCert  stats.Object
	ids       map[uint32]*streamIDs
	static    map[string]staticObject
	sendSSRC  uint32 // the stream we send, once negotiated
	sendPT    int
	lastCount int // objects in the last report, to size the next
	// The codecs the two descriptions negotiated (negotiated.go).
	codecs negotiatedCodecs
}

// staticObject is an object built from a pion stats struct that did not
// change since (key: the struct, its timestamp zeroed).
type staticObject struct {
	key any
	obj stats.Object // without its timestamp
}

// staticObject returns the object for pion's struct key, of id: built by
// fill the first time, or when pion reports other values, and otherwise
// a copy of the one built before with the report's timestamp. Objects
// that stay the same for the whole call (certificates, candidates,
// codecs, the peer connection) cost a copy, not a build.
func staticObj[T comparable](b *reportBuilder, id string, key T, fill func() stats.Object) stats.Object {
	rc := b.cache
	if c, ok := rc.static[id]; ok && c.key == any(key) {
		o := maps.Clone(c.obj)
		o["timestamp"] = b.ts
		return o
	}
	o := fill()
	if rc.static == nil {
		rc.static = map[string]staticObject{}
	}
	tmpl := maps.Clone(o)
	delete(tmpl, "timestamp")
	rc.static[id] = staticObject{key: key, obj: tmpl}
	return o
}

// streamIDs are the ids of the objects of one RTP stream.
type streamIDs struct{ out, remoteIn, in, remoteOut string }

func (rc *reportCache) streamIDs(ssrc uint32) *streamIDs {
	if ids, ok := rc.ids[ssrc]; ok {
		return ids
	}
	if rc.ids == nil {
		rc.ids = map[uint32]*streamIDs{}
	}
	n := strconv.FormatUint(uint64(ssrc), 10)
	ids := &streamIDs{out: "outbound-rtp-" + n, remoteIn: "remote-inbound-rtp-" + n, in: "inbound-rtp-" + n, remoteOut: "remote-outbound-rtp-" + n}
	rc.ids[ssrc] = ids
	return ids
}

// reportBuilder holds what one report is built from, read once so that
// every object describes the same moment.
type reportBuilder struct {
	ts      float64 // every object's timestamp, ms since the epoch
	pion    webrtc.StatsReport
	getters pcGetters
	sender  *webrtc.RTPSender
	dtls    *webrtc.DTLSTransport
	cache   *reportCache // locked while the report is built
	mids    map[*webrtc.RTPReceiver]string
	senderM string // the sender's mid
	bitrate int    // the sender's encoder target, bits/s; 0 when unknown
	cands   *candidateBook
	changes uint32 // the transport's selected candidate pair changes

	// The stream we send and its figures, read once: the candidate pair
	// takes its available bitrate from them.
	sendSSRC uint32
	sendPT   int
	out      rtpstats.Outbound
	haveOut  bool

	// Ids of objects already built, for the references of later ones.
	localCer string
	peerCer  string
	pairIDs  map[string]bool
	// pion's candidate pairs, read from its report once: the pairs, the
	// transport's counters and its selected pair all need them.
	pairs    []webrtc.ICECandidatePairStats
	selected string            // the selected pair's id, "" if none
	candPrio map[string]uint32 // candidate priorities, by id
}

func (c *Call) newReportBuilder(sender *webrtc.RTPSender) *reportBuilder {
	b := &reportBuilder{
		pion:     c.pc.GetStats(),
		getters:  c.getters,
		sender:   sender,
		mids:     map[*webrtc.RTPReceiver]string{},
		pairIDs:  map[string]bool{},
		candPrio: map[string]uint32{},
		cands:    &c.cands,
		changes:  c.pairChanges.Load(),
	}
	// One timestamp for the whole report, as browsers do, so that rates
	// computed between two samples use one clock.
	b.ts = math.Round(float64(time.Now().UnixNano())/1e3) / 1e3
	b.cache = &c.cache
	b.pairs = ofType[webrtc.ICECandidatePairStats](b.pion)
	// The descriptions do not change once both are applied (callstat
	// never renegotiates), and pion rebuilds the local one, candidates
	// and all, each time it is asked for.
	if !b.cache.sdp {
		var localSDP, peerSDP string
		if d := c.pc.CurrentLocalDescription(); d != nil {
			localSDP = d.SDP
		}
		if d := c.pc.CurrentRemoteDescription(); d != nil {
			peerSDP = d.SDP
		}
		b.cache.dtlsRole, b.cache.ufrag = dtlsRole(localSDP, peerSDP), sdpAttr(localSDP, "ice-ufrag")
		b.cache.sdp = localSDP != "" && peerSDP != ""
		if b.cache.sdp {
			b.cache.codecs = negotiate(localSDP, peerSDP)
		}
	}
	for _, tr := range c.pc.GetTransceivers() {
		if r := tr.Receiver(); r != nil {
			b.mids[r] = tr.Mid()
		}
		if sender != nil && tr.Sender() == sender {
			b.senderM = tr.Mid()
		}
	}
	if sender != nil {
		b.dtls = sender.Transport()
		if b.getters.rtp != nil {
			b.sendSSRC, b.sendPT = b.senderStream()
			if b.sendSSRC != 0 {
				b.out, b.haveOut = b.getters.rtp.Outbound(b.sendSSRC)
			}
		}
	}
	if c.p.cfg.Source != nil {
		b.bitrate = c.p.cfg.Source.TargetBitrate()
	}
	return b
}

// build returns every object of the report, in no particular order. The
// order of the calls matters: later types refer to earlier ones.
func (b *reportBuilder) build() []stats.Object {
	objs := make([]stats.Object, 0, max(b.cache.lastCount+1, 16))
	objs = append(objs, b.peerConnection()...)
	objs = append(objs, b.certificates()...)
	objs = append(objs, b.candidates()...)
	b.selected = b.selectedPair()
	objs = append(objs, b.candidatePairs()...)
	objs = append(objs, b.transport()...)
	objs = append(objs, b.codecs()...)
	objs = append(objs, b.mediaSource()...)
	objs = append(objs, b.outboundRTP()...)
	objs = append(objs, b.inboundRTP()...)
	objs = append(objs, b.others()...)
	return objs
}

// ofType returns the objects of one type from pion's report.
func ofType[T webrtc.Stats](r webrtc.StatsReport) []T {
	var out []T
	for _, s := range r {
		if v, ok := s.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// object starts an object of size fields in all (a map sized once is
// cheaper than one that grows: a report builds a dozen each second).
func (b *reportBuilder) object(typ webrtc.StatsType, id string, size int) stats.Object {
	o := make(stats.Object, size)
	o["id"], o["type"], o["timestamp"] = id, string(typ), b.ts
	return o
}

// peerConnection is pion's object as is.
func (b *reportBuilder) peerConnection() []stats.Object {
	var out []stats.Object
	for _, pc := range ofType[webrtc.PeerConnectionStats](b.pion) {
		pc.Timestamp = 0
		out = append(out, staticObj(b, pc.ID, pc, func() stats.Object {
			o := b.object(webrtc.StatsTypePeerConnection, pc.ID, 7)
			o["dataChannelsOpened"] = pc.DataChannelsOpened
			o["dataChannelsClosed"] = pc.DataChannelsClosed
			o["dataChannelsRequested"] = pc.DataChannelsRequested
			o["dataChannelsAccepted"] = pc.DataChannelsAccepted
			return o
		}))
	}
	return out
}

// certificates are our certificate (from pion) and the far end's (from
// the DTLS handshake; pion reports only its own). pion fills
// issuerCertificateId with the issuer's name rather than an id: callstat's
// certificates are self-signed, so the field is left out, as W3C says for
// a certificate without an issuer in the chain.
func (b *reportBuilder) certificates() []stats.Object {
	var out []stats.Object
	for _, cs := range ofType[webrtc.CertificateStats](b.pion) {
		cs.Timestamp = 0
		out = append(out, staticObj(b, cs.ID, cs, func() stats.Object {
			o := b.object(webrtc.StatsTypeCertificate, cs.ID, 6)
			o["fingerprint"] = cs.Fingerprint
			o["fingerprintAlgorithm"] = cs.FingerprintAlgorithm
			o["base64Certificate"] = cs.Base64Certificate
			return o
		}))
		if b.localCer == "" || cs.ID < b.localCer {
			b.localCer = cs.ID
		}
	}
	if b.dtls == nil {
		return out
	}
	der := b.dtls.GetRemoteCertificate()
	if len(der) == 0 {
		return out
	}
	rc := b.cache
	if rc.peerCert == nil || !bytes.Equal(der, rc.peerDER) {
		sum := sha256.Sum256(der)
		hexes := make([]string, len(sum))
		for i, v := range sum {
			hexes[i] = hex.EncodeToString([]byte{v})
		}
		rc.peerDER = der
		rc.peerCert = stats.Object{
			"id":                   "certificate-remote-" + strings.Join(hexes[:8], ""),
			"type":                 string(webrtc.StatsTypeCertificate),
			"fingerprint":          strings.Join(hexes, ":"),
			"fingerprintAlgorithm": "sha-256",
			"base64Certificate":    base64.StdEncoding.EncodeToString(der),
		}
	}
	o := maps.Clone(rc.peerCert)
	o["timestamp"] = b.ts
	b.peerCer = o.ID()
	return append(out, o)
}

// candidates are the local and remote ICE candidates: pion's, with what
// the call noted of each (candidates.go). W3C renamed "ip" to "address";
// both are written, for readers of either name.
func (b *reportBuilder) candidates() []stats.Object {
	var out []stats.Object
	for _, cs := range ofType[webrtc.ICECandidateStats](b.pion) {
		cs.Timestamp = 0
		remote := cs.Type == webrtc.StatsTypeRemoteCandidate
		var info candidateInfo
		if remote {
			info, _ = b.cands.remoteInfo(candidateKey{addr: cs.IP, port: cs.Port, protocol: cs.Protocol, typ: cs.CandidateType.String()})
		} else {
			info = b.cands.localInfo(cs.ID)
			info.ufrag = b.cache.ufrag
		}
		key := struct {
			webrtc.ICECandidateStats
			candidateInfo
		}{cs, info}
		out = append(out, staticObj(b, cs.ID, key, func() stats.Object {
			o := b.object(cs.Type, cs.ID, 14)
			o["transportId"] = transportID
			o["address"] = cs.IP
			o["ip"] = cs.IP
			o["port"] = cs.Port
			o["protocol"] = cs.Protocol
			o["candidateType"] = cs.CandidateType.String()
			o["priority"] = cs.Priority
			o["isRemote"] = remote
			if info.foundation != "" {
				o["foundation"] = info.foundation
			}
			if info.ufrag != "" {
				o["usernameFragment"] = info.ufrag
			}
			if info.tcpType != "" {
				o["tcpType"] = info.tcpType
			}
			// W3C: the interface of a local candidate's base only.
			if nt := cmp.Or(info.networkType, cs.NetworkType); nt != "" && !remote {
				o["networkType"] = nt
			}
			if cs.URL != "" {
				o["url"] = cs.URL
			}
			if cs.RelayProtocol != "" {
				o["relayProtocol"] = cs.RelayProtocol
			}
			return o
		}))
		b.candPrio[cs.ID] = uint32(cs.Priority) //nolint:gosec // pion narrowed the uint32 it had
	}
	return out
}

// candidatePairs are pion's pairs with the transport they belong to, and
// without the timestamps pion never set (it converts Go's zero time into a
// large negative number).
func (b *reportBuilder) candidatePairs() []stats.Object {
	var out []stats.Object
	for _, p := range b.pairs {
		o := b.object(webrtc.StatsTypeCandidatePair, p.ID, 32)
		o["transportId"] = transportID
		o["localCandidateId"] = p.LocalCandidateID
		o["remoteCandidateId"] = p.RemoteCandidateID
		o["state"] = string(p.State)
		o["nominated"] = p.Nominated
		o["packetsSent"] = p.PacketsSent
		o["packetsReceived"] = p.PacketsReceived
		o["bytesSent"] = p.BytesSent
		o["bytesReceived"] = p.BytesReceived
		o["totalRoundTripTime"] = p.TotalRoundTripTime
		o["requestsSent"] = p.RequestsSent
		o["requestsReceived"] = p.RequestsReceived
		o["responsesSent"] = p.ResponsesSent
		o["responsesReceived"] = p.ResponsesReceived
		o["consentRequestsSent"] = p.ConsentRequestsSent
		o["packetsDiscardedOnSend"] = p.PacketsDiscardedOnSend
		o["bytesDiscardedOnSend"] = p.BytesDiscardedOnSend
		// Only a pair that got a STUN response has measured anything.
		if p.ResponsesReceived > 0 {
			o["currentRoundTripTime"] = p.CurrentRoundTripTime
		}
		// As libwebrtc: a pair is writable once a check on it succeeded.
		o["writable"] = p.State == webrtc.StatsICECandidatePairStateSucceeded && p.ResponsesReceived > 0
		if lp, ok := b.candPrio[p.LocalCandidateID]; ok {
			if rp, ok := b.candPrio[p.RemoteCandidateID]; ok {
				o["priority"] = pairPriority(lp, rp, b.controlling())
			}
		}
		// pion estimates no bandwidth for audio. The selected pair, which
		// carries our stream, gets the rate the far end's receiver reports
		// say the path delivered (rtpstats.Outbound); 0 would read as
		// "none available", so it is left out until two reports came.
		switch {
		case p.AvailableOutgoingBitrate > 0:
			o["availableOutgoingBitrate"] = p.AvailableOutgoingBitrate
		case p.ID == b.selected && b.out.AvailableOutgoingBitrate > 0:
			o["availableOutgoingBitrate"] = math.Round(b.out.AvailableOutgoingBitrate)
		}
		if p.AvailableIncomingBitrate > 0 {
			o["availableIncomingBitrate"] = p.AvailableIncomingBitrate
		}
		for _, f := range [...]struct {
			name string
			ts   webrtc.StatsTimestamp
		}{
			{"lastPacketSentTimestamp", p.LastPacketSentTimestamp},
			{"lastPacketReceivedTimestamp", p.LastPacketReceivedTimestamp},
			{"firstRequestTimestamp", p.FirstRequestTimestamp},
			{"lastRequestTimestamp", p.LastRequestTimestamp},
			{"firstResponseTimestamp", p.FirstResponseTimestamp},
			{"lastResponseTimestamp", p.LastResponseTimestamp},
			{"firstRequestReceivedTimestamp", p.FirstRequestReceivedTimestamp},
			{"lastRequestReceivedTimestamp", p.LastRequestReceivedTimestamp},
			{"consentExpiredTimestamp", p.ConsentExpiredTimestamp},
		} {
			if f.ts > 0 {
				o[f.name] = float64(f.ts)
			}
		}
		b.pairIDs[p.ID] = true
		out = append(out, o)
	}
	return out
}

// transport is the one ICE+DTLS transport. pion fills bytes and the DTLS
// fields; the packet counters (summed over the candidate pairs), the ICE
// role and state, the DTLS role, the selected pair and the certificates
// are filled here.
func (b *reportBuilder) transport() []stats.Object {
	var ts webrtc.TransportStats
	found := false
	for _, t := range ofType[webrtc.TransportStats](b.pion) {
		if t.ID == transportID {
			ts, found = t, true
		}
	}
	if !found {
		return nil
	}
	o := b.object(webrtc.StatsTypeTransport, transportID, 20)
	o["bytesSent"] = ts.BytesSent
	o["bytesReceived"] = ts.BytesReceived
	var sent, received uint32
	for _, p := range b.pairs {
		sent += p.PacketsSent
		received += p.PacketsReceived
	}
	o["packetsSent"] = sent
	o["packetsReceived"] = received
	o["dtlsState"] = ts.DTLSState.String()
	if ts.TLSVersion != "" {
		o["tlsVersion"] = ts.TLSVersion
	}
	if ts.DTLSCipher != "" {
		o["dtlsCipher"] = ts.DTLSCipher
	}
	if ts.SRTPCipher != "" {
		o["srtpCipher"] = ts.SRTPCipher
	}
	o["dtlsRole"] = b.cache.dtlsRole
	if b.dtls != nil {
		if ice := b.dtls.ICETransport(); ice != nil {
			o["iceRole"] = iceRole(ice.Role())
			o["iceState"] = iceState(ice.State())
		}
	}
	if b.selected != "" {
		o["selectedCandidatePairId"] = b.selected
	}
	o["selectedCandidatePairChanges"] = b.changes
	if ufrag := b.cache.ufrag; ufrag != "" {
		o["iceLocalUsernameFragment"] = ufrag
	}
	if b.localCer != "" {
		o["localCertificateId"] = b.localCer
	}
	if b.peerCer != "" {
		o["remoteCertificateId"] = b.peerCer
	}
	return []stats.Object{o}
}

// selectedPair is the id of the candidate pair ICE selected, "" if none
// is. pion marks a pair nominated when it selects it and never unmarks
// one: while ICE is connected and a single pair of the report is
// nominated, that pair is the selected one. Otherwise (the selection moved
// to another pair) pion is asked, which costs a round trip through the ICE
// agent's goroutine.
func (b *reportBuilder) selectedPair() string {
	if b.dtls == nil || b.dtls.ICETransport() == nil {
		return ""
	}
	ice := b.dtls.ICETransport()
	switch ice.State() {
	case webrtc.ICETransportStateConnected, webrtc.ICETransportStateCompleted:
		var nominated string
		n := 0
		for _, p := range b.pairs {
			if p.Nominated {
				nominated = p.ID
				n++
			}
		}
		if n == 1 {
			return nominated
		}
	}
	// Before ICE starts nothing is selected, and pion writes the transport's
	// gatherer while it starts without the lock GetSelectedCandidatePairStats
	// would need: a sample taken then (a callee's first, while the offer is
	// applied) must not ask.
	if ice.State() == webrtc.ICETransportStateNew {
		return ""
	}
	if sel, ok := ice.GetSelectedCandidatePairStats(); ok && b.pairIDs[sel.ID] {
		return sel.ID
	}
	return ""
}

// codecs are the codecs the two descriptions negotiated (negotiated.go),
// on our one transport: not pion's, which are the ones callstat registered,
// whatever the far end chose.
func (b *reportBuilder) codecs() []stats.Object {
	out := make([]stats.Object, 0, len(b.cache.codecs.objs))
	for _, nc := range b.cache.codecs.objs {
		o := b.object(webrtc.StatsTypeCodec, nc.id, 10)
		o["transportId"] = transportID
		o["payloadType"] = nc.pt
		o["mimeType"] = nc.mimeType
		o["clockRate"] = nc.clock
		if nc.channels > 0 {
			o["channels"] = nc.channels
		}
		if nc.fmtp != "" {
			o["sdpFmtpLine"] = nc.fmtp
		}
		out = append(out, o)
	}
	return out
}

// controlling reports whether our ICE agent is the controlling one.
func (b *reportBuilder) controlling() bool {
	return b.dtls != nil && b.dtls.ICETransport() != nil && b.dtls.ICETransport().Role() == webrtc.ICERoleControlling
}

// pairPriority is RFC 8445 §6.1.2.3's pair priority, from the two
// candidates' priorities: G the controlling agent's, D the controlled one's.
func pairPriority(local, remote uint32, controlling bool) uint64 {
	g, d := uint64(remote), uint64(local)
	if controlling {
		g, d = d, g
	}
	p := 1<<32*min(g, d) + 2*max(g, d)
	if g > d {
		p++
	}
	return p
}

// localTrack is the track the sender sends, if any.
func (b *reportBuilder) localTrack() webrtc.TrackLocal {
	if b.sender == nil {
		return nil
	}
	return b.sender.Track()
}

func mediaSourceID(trackID string) string { return "media-source-" + trackID }

// mediaSource describes the audio track we send. The audio measurements
// (audioLevel, totalAudioEnergy, totalSamplesDuration) are the audio
// source's to add.
func (b *reportBuilder) mediaSource() []stats.Object {
	t := b.localTrack()
	if t == nil {
		return nil
	}
	o := b.object(webrtc.StatsTypeMediaSource, mediaSourceID(t.ID()), 8)
	o["kind"] = t.Kind().String()
	o["trackIdentifier"] = t.ID()
	return []stats.Object{o}
}

// senderStream is the SSRC and payload type (-1 when none is negotiated)
// of the stream we send; 0 before there is one. They stay the same for the
// call once it connected, and pion builds all the sender's parameters
// each time it is asked for them.
func (b *reportBuilder) senderStream() (ssrc uint32, pt int) {
	rc := b.cache
	if rc.sendSSRC != 0 {
		return rc.sendSSRC, rc.sendPT
	}
	params := b.sender.GetParameters()
	if len(params.Encodings) == 0 || params.Encodings[0].SSRC == 0 {
		return 0, -1
	}
	ssrc, pt = uint32(params.Encodings[0].SSRC), -1
	if len(params.Codecs) > 0 {
		pt = int(params.Codecs[0].PayloadType)
		rc.sendSSRC, rc.sendPT = ssrc, pt // final once a codec is negotiated
	}
	return ssrc, pt
}

// outboundRTP is the stream we send, with the far end's view of it
// (remote-inbound-rtp, from its RTCP receiver reports) once one arrived.
// pion's GetStats has neither; callstat's interceptor has the figures.
func (b *reportBuilder) outboundRTP() []stats.Object {
	if !b.haveOut {
		return nil
	}
	st, ssrc := b.out, b.sendSSRC
	kind := "audio"
	if t := b.localTrack(); t != nil {
		kind = t.Kind().String()
	}
	var codec string
	if b.sendPT >= 0 {
		codec = b.cache.codecs.send[uint8(b.sendPT)] //nolint:gosec // a payload type
	}
	ids := b.cache.streamIDs(ssrc)
	outID, remoteID := ids.out, ids.remoteIn

	out := b.object(webrtc.StatsTypeOutboundRTP, outID, 22)
	out["ssrc"] = ssrc
	out["kind"] = kind
	out["mediaType"] = kind // Firefox still sends W3C's former name
	out["transportId"] = transportID
	if codec != "" {
		out["codecId"] = codec
	}
	if b.senderM != "" {
		out["mid"] = b.senderM
	}
	if t := b.localTrack(); t != nil {
		out["mediaSourceId"] = mediaSourceID(t.ID())
	}
	out["packetsSent"] = st.PacketsSent
	out["bytesSent"] = st.BytesSent
	out["headerBytesSent"] = st.HeaderBytesSent
	// From the interceptor to the socket: SRTP and the write, summed.
	out["totalPacketSendDelay"] = st.TotalPacketSendDelay.Seconds()
	// Audio is never retransmitted here: no RTX is negotiated and no NACK
	// responder runs.
	out["retransmittedPacketsSent"] = 0
	out["retransmittedBytesSent"] = 0
	out["nackCount"] = st.NACKCount
	if b.bitrate > 0 {
		out["targetBitrate"] = b.bitrate
	}
	out["active"] = true
	objs := []stats.Object{out}

	ri := st.RemoteInbound
	if ri.ReportsReceived == 0 {
		return objs // no receiver report yet
	}
	out["remoteId"] = remoteID
	o := b.object(webrtc.StatsTypeRemoteInboundRTP, remoteID, 16)
	o["ssrc"] = ssrc
	o["kind"] = kind
	o["mediaType"] = kind
	o["transportId"] = transportID
	if codec != "" {
		o["codecId"] = codec
	}
	o["localId"] = outID
	o["packetsReceived"] = ri.PacketsReceived
	o["packetsLost"] = ri.PacketsLost
	o["fractionLost"] = ri.FractionLost
	o["jitter"] = ri.Jitter
	o["roundTripTimeMeasurements"] = ri.RoundTripTimeMeasurements
	o["totalRoundTripTime"] = ri.TotalRoundTripTime.Seconds()
	if ri.RoundTripTimeMeasurements > 0 {
		o["roundTripTime"] = ri.RoundTripTime.Seconds()
	}
	return append(objs, o)
}

// inboundRTP is every stream we receive, from the first packet on, with
// the far end's view of it (remote-outbound-rtp, from its RTCP sender
// reports; the round-trip time from RTCP XR) once one arrived. pion's own
// inbound-rtp lacks the track, and its remote-outbound-rtp does not exist.
// The audio measurements (audioLevel, totalSamplesReceived, …) are the
// audio receiver's to add.
func (b *reportBuilder) inboundRTP() []stats.Object {
	if b.getters.rtp == nil {
		return nil
	}
	var out []stats.Object
	for r, mid := range b.mids {
		for _, t := range r.Tracks() {
			if t.SSRC() == 0 {
				continue
			}
			out = append(out, b.inboundStream(t, mid)...)
		}
	}
	return out
}

func (b *reportBuilder) inboundStream(t *webrtc.TrackRemote, mid string) []stats.Object {
	ssrc := uint32(t.SSRC())
	in, ok := b.getters.rtp.Inbound(ssrc)
	if !ok || in.PacketsReceived == 0 {
		return nil // W3C: inbound-rtp exists from the first packet
	}
	ids := b.cache.streamIDs(ssrc)
	inID, remoteID := ids.in, ids.remoteOut
	codec, ok := b.cache.codecs.recv[in.PayloadType]
	if !ok {
		codec = b.cache.codecs.recv[uint8(t.Codec().PayloadType)]
	}
	kind := t.Kind().String()

	o := b.object(webrtc.StatsTypeInboundRTP, inID, 28)
	o["ssrc"] = ssrc
	o["kind"] = kind
	o["mediaType"] = kind // Firefox still sends W3C's former name
	o["transportId"] = transportID
	if codec != "" {
		o["codecId"] = codec
	}
	if mid != "" {
		o["mid"] = mid
	}
	o["trackIdentifier"] = t.ID()
	o["packetsReceived"] = in.PacketsReceived
	o["packetsLost"] = in.PacketsLost
	o["packetsDiscarded"] = in.PacketsDiscarded
	o["packetsDuplicated"] = in.PacketsDuplicated
	o["jitter"] = in.Jitter
	o["bytesReceived"] = in.BytesReceived
	o["headerBytesReceived"] = in.HeaderBytesReceived
	o["nackCount"] = in.NACKCount
	if in.FECCounted {
		o["fecPacketsReceived"] = in.FECPacketsReceived
		o["fecPacketsDiscarded"] = in.FECPacketsDiscarded
	}
	if !in.LastPacketReceived.IsZero() {
		o["lastPacketReceivedTimestamp"] = float64(in.LastPacketReceived.UnixNano()) / 1e6
	}
	objs := []stats.Object{o}

	ro := in.RemoteOutbound
	if ro.ReportsSent == 0 {
		return objs // no sender report yet
	}
	o["remoteId"] = remoteID
	r := b.object(webrtc.StatsTypeRemoteOutboundRTP, remoteID, 16)
	r["ssrc"] = ssrc
	r["kind"] = kind
	r["mediaType"] = kind
	r["transportId"] = transportID
	if codec != "" {
		r["codecId"] = codec
	}
	r["localId"] = inID
	r["packetsSent"] = ro.PacketsSent
	r["bytesSent"] = ro.BytesSent
	r["remoteTimestamp"] = float64(ro.RemoteTimestamp.UnixNano()) / 1e6
	r["reportsSent"] = ro.ReportsSent
	var rtt rtcpxr.RTT
	if b.getters.xr != nil {
		rtt, _ = b.getters.xr.Get(ssrc)
	}
	r["roundTripTimeMeasurements"] = rtt.RoundTripTimeMeasurements
	r["totalRoundTripTime"] = rtt.TotalRoundTripTime.Seconds()
	if rtt.RoundTripTimeMeasurements > 0 {
		r["roundTripTime"] = rtt.RoundTripTime.Seconds()
	}
	return append(objs, r)
}

// others are the objects of types not built above (a data channel, an
// SCTP transport, audio playout, anything a newer pion adds), converted
// through their JSON tags. The SCTP transport is left out while it is not
// connected: audio calls never start one, and pion reports it anyway with
// zeros and an empty transportId.
func (b *reportBuilder) others() []stats.Object {
	var out []stats.Object
	for id, s := range b.pion {
		switch v := s.(type) {
		case webrtc.PeerConnectionStats, webrtc.CertificateStats, webrtc.ICECandidateStats,
			webrtc.ICECandidatePairStats, webrtc.TransportStats, webrtc.CodecStats,
			webrtc.InboundRTPStreamStats:
			continue
		case webrtc.SCTPTransportStats:
			if v.BytesSent == 0 && v.BytesReceived == 0 {
				continue
			}
		}
		o, err := stats.ToObject(s)
		if err != nil {
			continue
		}
		if o.ID() == "" {
			o["id"] = id
		}
		if tid, ok := o["transportId"].(string); ok && tid == "" {
			o["transportId"] = transportID
		}
		out = append(out, o)
	}
	return out
}

// iceRole is the W3C name of an ICE role.
func iceRole(r webrtc.ICERole) string {
	switch r {
	case webrtc.ICERoleControlling:
		return "controlling"
	case webrtc.ICERoleControlled:
		return "controlled"
	default:
		return "unknown"
	}
}

// iceState is the W3C name of an ICE transport state.
func iceState(s webrtc.ICETransportState) string {
	switch s {
	case webrtc.ICETransportStateNew:
		return "new"
	case webrtc.ICETransportStateChecking:
		return "checking"
	case webrtc.ICETransportStateConnected:
		return "connected"
	case webrtc.ICETransportStateCompleted:
		return "completed"
	case webrtc.ICETransportStateDisconnected:
		return "disconnected"
	case webrtc.ICETransportStateFailed:
		return "failed"
	case webrtc.ICETransportStateClosed:
		return "closed"
	default:
		return "new"
	}
}

// dtlsRole derives our DTLS role from the a=setup attributes of the two
// descriptions (RFC 5763): "active" is the DTLS client, "passive" the
// server; the offerer's "actpass" takes the opposite of the answer.
func dtlsRole(localSDP, remoteSDP string) string {
	switch sdpAttr(localSDP, "setup") {
	case "active":
		return "client"
	case "passive":
		return "server"
	case "actpass":
		switch sdpAttr(remoteSDP, "setup") {
		case "active":
			return "server"
		case "passive":
			return "client"
		}
	}
	return "unknown"
}

// sdpAttr returns the value of the first a=<name>: line of an SDP.
func sdpAttr(sdp, name string) string {
	prefix := "a=" + name + ":"
	for line := range strings.SplitSeq(sdp, "\n") {
		line = strings.TrimRight(line, "\r")
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Record is the call's stats record, as stored when it starts.
func (c *Call) Record() stats.CallRecord {
	return stats.CallRecord{
		CallID:      c.ID(),
		Participant: c.Local(),
		Direction:   string(c.Direction()),
		Peer:        c.Remote(),
		StartedAt:   c.StartedAt(),
	}
}

// EndRecord is how the call ended, as stored; complete once the call is in
// a final state.
func (c *Call) EndRecord() stats.EndRecord {
	t := c.Transition()
	end := stats.EndRecord{
		CallID:      c.ID(),
		Participant: c.Local(),
		ConnectedAt: c.ConnectedAt(),
		EndedAt:     c.EndedAt(),
		State:       c.State().String(),
		StatusCode:  t.StatusCode,
		Reason:      t.ReasonText,
	}
	if err := c.Err(); err != nil {
		end.Error = err.Error()
	}
	return end
}

// mediaSourceAudioID is the id of the media-source object addAudioStats
// makes when the report has none.
const mediaSourceAudioID = "media-source-audio"

// addAudioStats fills the audio fields pion cannot know: in the inbound-rtp
// of the far end's stream, what the playout path measured (pion reports
// them as zeros), with its media-playout object; in the local audio's
// media-source (made if the report has none), what the source measured
// since this call attached it.
func (c *Call) addAudioStats(objs []stats.Object) []stats.Object {
	c.mu.Lock()
	recv, ssrc := c.recv, c.recvSSRC
	c.mu.Unlock()
	if recv != nil {
		in := recv.Stats()
		var playout []stats.Object
		for _, o := range objs {
			if o["type"] != string(webrtc.StatsTypeInboundRTP) || o["kind"] != "audio" || !sameSSRC(o["ssrc"], ssrc) {
				continue
			}
			if p := setInboundAudio(o, in); p != nil { // audiostats.go
				playout = append(playout, p)
			}
		}
		objs = append(objs, playout...)
	}
	if c.sender == nil {
		return objs
	}
	src := c.p.cfg.Source.Stats().Since(c.srcBase)
	var ms stats.Object
	for _, o := range objs {
		if o["type"] == string(webrtc.StatsTypeMediaSource) && o["kind"] == "audio" {
			ms = o
		}
	}
	if ms == nil {
		ms = stats.Object{
			"id":              mediaSourceAudioID,
			"type":            string(webrtc.StatsTypeMediaSource),
			"timestamp":       float64(time.Now().UnixNano()) / 1e6,
			"kind":            "audio",
			"trackIdentifier": c.p.cfg.Source.Track().ID(),
		}
		objs = append(objs, ms)
	}
	ms["audioLevel"] = src.AudioLevel
	ms["totalAudioEnergy"] = src.TotalAudioEnergy
	ms["totalSamplesDuration"] = src.TotalSamplesDuration
	return objs
}

// sameSSRC compares an object's ssrc (a JSON number once converted) with
// ssrc.
func sameSSRC(v any, ssrc uint32) bool {
	switch n := v.(type) {
	case float64:
		return n == float64(ssrc)
	case uint32:
		return n == ssrc
	}
	return false
}
