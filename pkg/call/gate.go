package call

import (
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// gatedTrack is the phone's shared audio track as one call sends it: its
// packets are held back until the call's PeerConnection is connected.
//
// pion starts a sender as soon as the offer/answer is applied, but drops
// what it writes before the DTLS handshake has produced SRTP keys — after
// its interceptors have counted it. Without the gate, outbound-rtp
// packetsSent (and the RTCP sender reports) included packets that never
// left: about seven more than a browser received when callstat answered.
// A PeerConnection reports "connected" only once its DTLS transport is up
// and SRTP has started, so nothing written after open is dropped.
type gatedTrack struct {
	webrtc.TrackLocal
	opened atomic.Bool
	held   atomic.Bool // the far end holds the call: send nothing (hold.go)
}

func newGatedTrack(t webrtc.TrackLocal) *gatedTrack { return &gatedTrack{TrackLocal: t} }

// open lets packets through from now on.
func (g *gatedTrack) open() { g.opened.Store(true) }

// hold stops (or resumes) sending while the far end holds the call.
func (g *gatedTrack) hold(on bool) { g.held.Store(on) }

func (g *gatedTrack) passing() bool { return g.opened.Load() && !g.held.Load() }

// Bind binds the shared track with a writer that holds packets back until
// open.
func (g *gatedTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	return g.TrackLocal.Bind(gatedContext{TrackLocalContext: ctx, g: g})
}

// Unbind passes the same wrapper as Bind: the shared track finds its
// binding by the context's ID, which the wrapper keeps.
func (g *gatedTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	return g.TrackLocal.Unbind(gatedContext{TrackLocalContext: ctx, g: g})
}

type gatedContext struct {
	webrtc.TrackLocalContext
	g *gatedTrack
}

func (c gatedContext) WriteStream() webrtc.TrackLocalWriter {
	return gatedWriter{w: c.TrackLocalContext.WriteStream(), g: c.g}
}

type gatedWriter struct {
	w webrtc.TrackLocalWriter
	g *gatedTrack
}

// WriteRTP drops the packet while the gate is shut, as pion itself drops
// packets it cannot encrypt yet: no error, nothing written.
func (w gatedWriter) WriteRTP(header *rtp.Header, payload []byte) (int, error) {
	if !w.g.passing() {
		return 0, nil
	}
	return w.w.WriteRTP(header, payload)
}

func (w gatedWriter) Write(b []byte) (int, error) {
	if !w.g.passing() {
		return 0, nil
	}
	return w.w.Write(b)
}
