package signaling

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/callstat/callstat/internal/testkit/testdata"
)

// fixtureDir holds one example of every message; docs/protocol.md shows the
// same examples, which TestFixturesAppearInProtocolDoc enforces.
func fixtureDir(t testing.TB) string { return testdata.Path(t, "signaling") }

func protocolDoc(t testing.TB) string { return filepath.Join(testdata.Root(t), "docs", "protocol.md") }

func ptr[T any](v T) *T { return &v }

// validMessages is one valid message of every type, with every field its
// type reads filled in.
func validMessages() map[Type]Message {
	return map[Type]Message{
		TypeWelcome:    {V: 1, Type: TypeWelcome, Server: "callstat/test", Session: "s-1"},
		TypeRegister:   {V: 1, Type: TypeRegister, RID: "1", User: "alice"},
		TypeRegistered: {V: 1, Type: TypeRegistered, RID: "1", User: "alice"},
		TypeCall:       {V: 1, Type: TypeCall, CallID: "c1", From: "bob", To: "alice", SDP: "v=0\r\n"},
		TypeTrying:     {V: 1, Type: TypeTrying, CallID: "c1"},
		TypeIncoming:   {V: 1, Type: TypeIncoming, CallID: "c1", From: "bob", To: "alice", SDP: "v=0\r\n"},
		TypeRinging:    {V: 1, Type: TypeRinging, CallID: "c1"},
		TypeAnswer:     {V: 1, Type: TypeAnswer, CallID: "c1", SDP: "v=0\r\n"},
		TypeCandidate: {V: 1, Type: TypeCandidate, CallID: "c1", Candidate: &Candidate{
			Candidate: "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host", SDPMid: ptr("0"),
			SDPMLineIndex: ptr(uint16(0)), UsernameFragment: ptr("abcd"),
		}},
		TypeReject: {V: 1, Type: TypeReject, CallID: "c1", Status: StatusBusy, Reason: "busy here"},
		TypeEnd:    {V: 1, Type: TypeEnd, CallID: "c1", Status: StatusNormal, Reason: "bye"},
		TypeError:  {V: 1, Type: TypeError, RID: "2", CallID: "c1", Code: ErrCodeNotAParty, Message: "no"},
	}
}

// requiredFields lists, per type, the fields Validate insists on, with a
// function that clears each one.
var requiredFields = map[Type]map[string]func(*Message){
	TypeWelcome:    {},
	TypeRegister:   {"user": func(m *Message) { m.User = "" }},
	TypeRegistered: {"user": func(m *Message) { m.User = "" }},
	TypeCall: {
		"callId": func(m *Message) { m.CallID = "" }, "from": func(m *Message) { m.From = "" },
		"to": func(m *Message) { m.To = "" }, "sdp": func(m *Message) { m.SDP = "" },
	},
	TypeTrying: {"callId": func(m *Message) { m.CallID = "" }},
	TypeIncoming: {
		"callId": func(m *Message) { m.CallID = "" }, "from": func(m *Message) { m.From = "" },
		"to": func(m *Message) { m.To = "" }, "sdp": func(m *Message) { m.SDP = "" },
	},
	TypeRinging:   {"callId": func(m *Message) { m.CallID = "" }},
	TypeAnswer:    {"callId": func(m *Message) { m.CallID = "" }, "sdp": func(m *Message) { m.SDP = "" }},
	TypeCandidate: {"callId": func(m *Message) { m.CallID = "" }, "candidate": func(m *Message) { m.Candidate = nil }},
	TypeReject:    {"callId": func(m *Message) { m.CallID = "" }},
	TypeEnd:       {"callId": func(m *Message) { m.CallID = "" }},
	TypeError:     {"code": func(m *Message) { m.Code = "" }},
}

// whitespaceOnly fills a required string field with blanks, which Validate
// treats as missing.
var whitespaceOnly = map[string]func(*Message){
	"user":   func(m *Message) { m.User = " \t" },
	"callId": func(m *Message) { m.CallID = "  " },
	"from":   func(m *Message) { m.From = "\n" },
	"to":     func(m *Message) { m.To = " " },
	"sdp":    func(m *Message) { m.SDP = "\r\n" },
	"code":   func(m *Message) { m.Code = " " },
}

func TestValidateEveryType(t *testing.T) {
	type tc struct {
		name    string
		msg     Message
		wantErr error
	}
	var cases []tc
	valid := validMessages()
	if len(valid) != len(requiredFields) {
		t.Fatalf("validMessages has %d types, requiredFields %d", len(valid), len(requiredFields))
	}
	for typ, m := range valid {
		cases = append(cases, tc{name: string(typ) + "/valid", msg: m})
		minimal := Message{V: 1, Type: typ, Candidate: m.Candidate, CallID: m.CallID, User: m.User,
			From: m.From, To: m.To, SDP: m.SDP, Code: m.Code}
		cases = append(cases, tc{name: string(typ) + "/only required fields", msg: minimal})
		for field, clear := range requiredFields[typ] {
			bad := m
			clear(&bad)
			cases = append(cases, tc{name: string(typ) + "/missing " + field, msg: bad, wantErr: ErrBadMessage})
			if blank, ok := whitespaceOnly[field]; ok {
				bad := m
				blank(&bad)
				cases = append(cases, tc{name: string(typ) + "/blank " + field, msg: bad, wantErr: ErrBadMessage})
			}
		}
		for _, v := range []int{0, 2, -1} {
			wrong := m
			wrong.V = v
			cases = append(cases, tc{name: fmt.Sprintf("%s/version %d", typ, v), msg: wrong, wantErr: ErrUnsupportedVersion})
		}
	}
	cases = append(cases,
		tc{name: "empty type", msg: Message{V: 1}, wantErr: ErrBadMessage},
		tc{name: "unknown type", msg: Message{V: 1, Type: "hold"}, wantErr: ErrUnknownType},
		tc{name: "type differs in case", msg: Message{V: 1, Type: "Register", User: "a"}, wantErr: ErrUnknownType},
		tc{name: "version checked before type", msg: Message{V: 2, Type: "hold"}, wantErr: ErrUnsupportedVersion},
	)
	for _, typ := range []Type{TypeEnd, TypeReject} {
		for _, st := range []struct {
			status int
			ok     bool
		}{{0, true}, {100, true}, {699, true}, {99, false}, {700, false}, {-200, false}, {1000, false}} {
			m := Message{V: 1, Type: typ, CallID: "c1", Status: st.status}
			c := tc{name: fmt.Sprintf("%s/status %d", typ, st.status), msg: m}
			if !st.ok {
				c.wantErr = ErrBadMessage
			}
			cases = append(cases, c)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.msg.Validate()
			checkErr(t, err, c.wantErr)
		})
	}
}

// checkErr asserts err matches want with errors.Is and no other sentinel.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("got error %v, want none", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want one matching %v", err, want)
	}
	for _, other := range []error{ErrBadMessage, ErrUnsupportedVersion, ErrUnknownType} {
		if !errors.Is(want, other) && errors.Is(err, other) {
			t.Fatalf("error %v also matches %v", err, other)
		}
	}
	if err.Error() == want.Error() {
		t.Fatalf("error %q carries no detail", err)
	}
}

func TestDecode(t *testing.T) {
	big := `{"v":1,"type":"register","user":"alice","pad":"` + strings.Repeat("x", MaxMessageBytes) + `"}`
	atLimit := func() string {
		head := `{"v":1,"type":"register","user":"alice","pad":"`
		return head + strings.Repeat("x", MaxMessageBytes-len(head)-2) + `"}`
	}()
	tests := []struct {
		name    string
		in      string
		want    *Message // checked when non-nil
		wantErr error
	}{
		{name: "register", in: `{"v":1,"type":"register","user":"alice","rid":"9"}`,
			want: &Message{V: 1, Type: TypeRegister, User: "alice", RID: "9"}},
		{name: "surrounding whitespace", in: " \r\n\t{\"v\":1,\"type\":\"ringing\",\"callId\":\"c\"} \n",
			want: &Message{V: 1, Type: TypeRinging, CallID: "c"}},
		{name: "unknown fields ignored", in: `{"v":1,"type":"ringing","callId":"c","x-extra":{"a":[1,2]},"video":true}`,
			want: &Message{V: 1, Type: TypeRinging, CallID: "c"}},
		{name: "end of candidates", in: `{"v":1,"type":"candidate","callId":"c","candidate":{"candidate":""}}`,
			want: &Message{V: 1, Type: TypeCandidate, CallID: "c", Candidate: &Candidate{}}},
		{name: "candidate with all fields", in: `{"v":1,"type":"candidate","callId":"c","candidate":{"candidate":"candidate:1 1 udp 1 192.0.2.1 9 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"u"}}`,
			want: &Message{V: 1, Type: TypeCandidate, CallID: "c", Candidate: &Candidate{
				Candidate: "candidate:1 1 udp 1 192.0.2.1 9 typ host", SDPMid: ptr("0"), SDPMLineIndex: ptr(uint16(0)), UsernameFragment: ptr("u")}}},
		{name: "exactly the size limit", in: atLimit, want: &Message{V: 1, Type: TypeRegister, User: "alice"}},

		{name: "empty input", in: ``, wantErr: ErrBadMessage},
		{name: "only whitespace", in: "  \n", wantErr: ErrBadMessage},
		{name: "garbage", in: `hello`, wantErr: ErrBadMessage},
		{name: "binary garbage", in: "\x00\xff\xfe{", wantErr: ErrBadMessage},
		{name: "null", in: `null`, wantErr: ErrBadMessage},
		{name: "array", in: `[{"v":1,"type":"welcome"}]`, wantErr: ErrBadMessage},
		{name: "string", in: `"welcome"`, wantErr: ErrBadMessage},
		{name: "number", in: `1`, wantErr: ErrBadMessage},
		{name: "empty object", in: `{}`, wantErr: ErrUnsupportedVersion},
		{name: "truncated", in: `{"v":1,"type":"regis`, wantErr: ErrBadMessage},
		{name: "truncated after object start", in: `{`, wantErr: ErrBadMessage},
		{name: "missing closing brace", in: `{"v":1,"type":"welcome"`, wantErr: ErrBadMessage},
		{name: "trailing object", in: `{"v":1,"type":"welcome"} {"v":1,"type":"welcome"}`, wantErr: ErrBadMessage},
		{name: "trailing garbage", in: `{"v":1,"type":"welcome"}x`, wantErr: ErrBadMessage},
		{name: "trailing brace", in: `{"v":1,"type":"welcome"}}`, wantErr: ErrBadMessage},
		{name: "trailing bracket", in: `{"v":1,"type":"welcome"}]`, wantErr: ErrBadMessage},
		{name: "trailing comma", in: `{"v":1,"type":"welcome"},`, wantErr: ErrBadMessage},
		{name: "oversized frame", in: big, wantErr: ErrBadMessage},
		{name: "version as string", in: `{"v":"1","type":"welcome"}`, wantErr: ErrBadMessage},
		{name: "status as string", in: `{"v":1,"type":"end","callId":"c","status":"200"}`, wantErr: ErrBadMessage},
		{name: "fractional status", in: `{"v":1,"type":"end","callId":"c","status":200.5}`, wantErr: ErrBadMessage},
		{name: "candidate as string", in: `{"v":1,"type":"candidate","callId":"c","candidate":"candidate:1 1 udp 1 192.0.2.1 9 typ host"}`, wantErr: ErrBadMessage},
		{name: "candidate null", in: `{"v":1,"type":"candidate","callId":"c","candidate":null}`, wantErr: ErrBadMessage},
		{name: "negative mline index", in: `{"v":1,"type":"candidate","callId":"c","candidate":{"candidate":"","sdpMLineIndex":-1}}`, wantErr: ErrBadMessage},

		{name: "missing version", in: `{"type":"register","user":"alice"}`, wantErr: ErrUnsupportedVersion},
		{name: "version 2", in: `{"v":2,"type":"register","user":"alice"}`, wantErr: ErrUnsupportedVersion},
		{name: "version 0", in: `{"v":0,"type":"register","user":"alice"}`, wantErr: ErrUnsupportedVersion},
		{name: "unknown type", in: `{"v":1,"type":"hold","callId":"c"}`, wantErr: ErrUnknownType},
		{name: "empty type", in: `{"v":1,"type":""}`, wantErr: ErrBadMessage},
		{name: "no type", in: `{"v":1}`, wantErr: ErrBadMessage},
		{name: "register without user", in: `{"v":1,"type":"register"}`, wantErr: ErrBadMessage},
		{name: "call without sdp", in: `{"v":1,"type":"call","callId":"c","from":"a","to":"b"}`, wantErr: ErrBadMessage},
		{name: "end status out of range", in: `{"v":1,"type":"end","callId":"c","status":99}`, wantErr: ErrBadMessage},
		{name: "reject status out of range", in: `{"v":1,"type":"reject","callId":"c","status":700}`, wantErr: ErrBadMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			checkErr(t, err, tt.wantErr)
			if tt.want != nil && !reflect.DeepEqual(got, *tt.want) {
				t.Fatalf("Decode gave\n%+v\nwant\n%+v", got, *tt.want)
			}
		})
	}
}

// A message rejected by Validate still comes back decoded so that the
// server can echo its rid and callId in the error.
func TestDecodeKeepsIDsOfInvalidMessages(t *testing.T) {
	m, err := Decode([]byte(`{"v":1,"type":"hold","rid":"r1","callId":"c1"}`))
	if !errors.Is(err, ErrUnknownType) {
		t.Fatalf("got %v, want ErrUnknownType", err)
	}
	if m.RID != "r1" || m.CallID != "c1" {
		t.Fatalf("got rid %q callId %q, want r1 and c1", m.RID, m.CallID)
	}
}

func TestUnknownTypeErrorIsClipped(t *testing.T) {
	long := strings.Repeat("é", 1000)
	_, err := Decode([]byte(`{"v":1,"type":"` + long + `"}`))
	if !errors.Is(err, ErrUnknownType) {
		t.Fatalf("got %v, want ErrUnknownType", err)
	}
	if len(err.Error()) > 200 {
		t.Fatalf("error text is %d bytes; a huge type must not be echoed whole", len(err.Error()))
	}
}

func TestRoundTripEveryType(t *testing.T) {
	all := validMessages()
	// Every optional field at once, to catch a tag that loses data.
	all["everything"] = Message{V: 1, Type: TypeCall, RID: "r", CallID: "c", User: "u", From: "f", To: "t",
		SDP: "v=0\r\n<&>", Candidate: &Candidate{Candidate: "x", SDPMid: ptr(""), SDPMLineIndex: ptr(uint16(65535)), UsernameFragment: ptr("")},
		Credentials: &Credentials{Realm: "r", AccountToken: "a", FromToken: "f", ToToken: "t"}, Token: "tok",
		Status: 699, Reason: "why", Code: "c", Message: "m", Server: "s", Session: "sess"}
	all["empty credentials"] = Message{V: 1, Type: TypeRegister, User: "u", Credentials: &Credentials{}}
	for name, m := range all {
		t.Run(string(name), func(t *testing.T) {
			stripped := m
			stripped.V = 0 // Encode stamps the version
			data, err := Encode(stripped)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := Decode(data)
			if err != nil {
				t.Fatalf("Decode(%s): %v", data, err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip changed the message\n got %+v\nwant %+v\nwire %s", got, m, data)
			}
		})
	}
}

func TestEncodeRefusesOversizedFrame(t *testing.T) {
	tests := []struct {
		name    string
		sdp     string
		wantErr error
	}{
		{name: "small", sdp: "v=0\r\n"},
		{name: "sdp alone over the limit", sdp: strings.Repeat("a", MaxMessageBytes), wantErr: ErrBadMessage},
		// 12 000 '<' are 12 000 bytes in, 72 000 out once escaped.
		{name: "escaping pushes it over", sdp: strings.Repeat("<", 12000), wantErr: ErrBadMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := Encode(Message{Type: TypeAnswer, CallID: "c", SDP: tt.sdp})
			checkErr(t, err, tt.wantErr)
			if err == nil && len(data) > MaxMessageBytes {
				t.Fatalf("Encode produced %d bytes", len(data))
			}
		})
	}
}

func TestProtocolErrorIs(t *testing.T) {
	err := protoErr(ErrCodeBadMessage, "detail")
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"same code", err, ErrBadMessage, true},
		{"wrapped", errors.Join(errors.New("ctx"), err), ErrBadMessage, true},
		{"other code", err, ErrUnknownType, false},
		{"target with detail is not a sentinel", err, protoErr(ErrCodeBadMessage, "detail"), false},
		{"plain error", errors.New(ErrCodeBadMessage), ErrBadMessage, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errors.Is(tt.err, tt.target); got != tt.want {
				t.Fatalf("errors.Is = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStatusText(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{0, ""},
		{StatusNormal, "call ended normally"},
		{StatusCalleeNotFound, "callee not found"},
		{StatusNoAnswer, "no answer"},
		{StatusPeerUnavailable, "peer unavailable"},
		{StatusBusy, "busy"},
		{StatusCancelled, "cancelled"},
		{StatusMediaFailure, "media failure"},
		{StatusServerShutdown, "server shutting down"},
		{StatusDeclined, "declined"},
		{599, "status 599"},
	}
	for _, tt := range tests {
		if got := StatusText(tt.status); got != tt.want {
			t.Errorf("StatusText(%d) = %q, want %q", tt.status, got, tt.want)
		}
	}
}

type fixture struct {
	name string
	data []byte
}

func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fixtureDir(t), "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no fixtures in %s", fixtureDir(t))
	}
	var out []fixture
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fixture{name: strings.TrimSuffix(filepath.Base(p), ".json"), data: data})
	}
	return out
}

// Each fixture is a valid message in the exact form Encode writes, so the
// examples in the documentation are what a client will really see.
func TestFixtures(t *testing.T) {
	seen := map[Type]bool{}
	for _, f := range loadFixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			m, err := Decode(f.data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if err := m.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			seen[m.Type] = true
			enc, err := Encode(m)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if want := bytes.TrimSpace(f.data); !bytes.Equal(enc, want) {
				t.Fatalf("fixture is not in canonical form\n got %s\nwant %s", want, enc)
			}
		})
	}
	for typ := range validMessages() {
		if !seen[typ] {
			t.Errorf("no fixture for message type %q", typ)
		}
	}
}

func TestFixturesAppearInProtocolDoc(t *testing.T) {
	doc, err := os.ReadFile(protocolDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range loadFixtures(t) {
		if !bytes.Contains(doc, bytes.TrimSpace(f.data)) {
			t.Errorf("%s does not show the example %s.json verbatim", protocolDoc(t), f.name)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.data)
	}
	for _, s := range []string{
		``, `null`, `{}`, `{"v":1}`, `{"v":1,"type":"welcome"}}`, `{"v":2,"type":"welcome"}`,
		`{"v":1,"type":"end","callId":"c","status":99}`, `{"v":1,"type":"candidate","callId":"c","candidate":{}}`,
		`{"v":1,"type":"call","callId":"c","from":"a","to":"b","sdp":"\u2028<\xff"}`, `{"V":1,"TYPE":"welcome"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("Decode error %v (%T) is not a *ProtocolError", err, err)
			}
			return
		}
		enc, err := Encode(m)
		if err != nil {
			// Only growth from re-escaping can push an accepted frame over
			// the limit.
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("Encode of an accepted message: %v", err)
			}
			return
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", enc, err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("re-decoded message differs\nfirst  %+v\nsecond %+v", m, again)
		}
	})
}

// BenchmarkDecode is the server's cost of reading one message: an offer
// (the largest a call sends) and a candidate (the most frequent).
func BenchmarkDecode(b *testing.B) {
	offer, err := Encode(Message{Type: TypeCall, CallID: "5f1c2a9e-0000-4000-8000-000000000001", From: "bob@example.com",
		To: "alice@example.com", SDP: strings.Repeat("a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n", 20)})
	if err != nil {
		b.Fatal(err)
	}
	cand, err := Encode(Message{Type: TypeCandidate, CallID: "5f1c2a9e-0000-4000-8000-000000000001",
		Candidate: &Candidate{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"}})
	if err != nil {
		b.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		data []byte
	}{{"offer", offer}, {"candidate", cand}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tt.data)))
			for b.Loop() {
				if _, err := Decode(tt.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
