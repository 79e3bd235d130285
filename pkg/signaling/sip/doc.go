// Package sip makes a call.Phone a SIP user agent over WebSocket (RFC 7118),
// the way the browser SDKs JsSIP and SIP.js reach Asterisk, FreeSWITCH,
// Kamailio or a hosted SIP service.
//
// The SIP stack is github.com/emiago/sipgo: its parser and message model,
// its WebSocket transport and transport layer, its transaction layer
// (timers, retransmissions, the ACK of failure responses, CANCEL
// matching), its client and server, and its dialog sessions
// (DialogClientSession for our INVITEs: WaitAnswer, CANCEL, ACK, BYE;
// DialogServerSession for the far end's: the 2xx sent again until its
// ACK). This package is the user agent on top: an Agent translates the
// phone's messages (package signaling) to SIP and back, registers with
// digest authentication, checks descriptions (CheckSDP) and maps SIP
// statuses to the phone's. docs/sip.md has the mapping and what differs
// from sipgo's defaults, and why.
//
// An Agent outlives its WebSocket: each Agent.Dial is one signaling
// session (a Conn); after a drop the phone dials again and its calls
// carry on.
package sip
