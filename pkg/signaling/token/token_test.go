package token

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/testdata"
)

type vector struct {
	Name      string `json:"name"`
	Key       string `json:"key"`
	IV        string `json:"iv"`
	Timestamp int64  `json:"timestamp"`
	Account   string `json:"account"`
	Params    Params `json:"params"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	data, err := os.ReadFile(testdata.Path(t, "token", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Vectors []vector }
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) != 2 {
		t.Fatalf("want one vector per key length, got %d", len(file.Vectors))
	}
	return file.Vectors
}

func mustKey(t testing.TB, s string) Key {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The vectors come from the openssl command line; our code must reproduce
// them byte for byte and open them again.
func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			k := mustKey(t, v.Key)
			got, err := Generate(k, Request{Realm: v.Params.Realm, Account: v.Account, Caller: v.Params.Caller,
				Callee: v.Params.Callee, Timestamp: v.Timestamp, IV: v.IV})
			if err != nil {
				t.Fatal(err)
			}
			if got != v.Params {
				t.Fatalf("Generate =\n%+v\nwant\n%+v", got, v.Params)
			}
			for user, tok := range map[string]string{v.Account: got.AccountToken, v.Params.Caller: got.FromToken, v.Params.Callee: got.ToToken} {
				c, err := k.Open(tok)
				if err != nil {
					t.Fatalf("Open(%s): %v", tok, err)
				}
				if c.User != user || c.Timestamp != v.Timestamp || c.IV != v.IV {
					t.Errorf("Open(%s) = %+v, want user %s timestamp %d iv %q", tok, c, user, v.Timestamp, v.IV)
				}
			}
		})
	}
}

// openssl runs the openssl command line with stdin and returns stdout.
func openssl(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("the openssl command is needed to cross-check tokens; `make test` installs it (Debian package openssl)")
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("openssl %v: %v: %s", args, err, stderr.String())
	}
	return out.Bytes()
}

// TestAgainstOpenSSL recomputes tokens with openssl for users whose
// plaintexts cover every padding length and several blocks.
func TestAgainstOpenSSL(t *testing.T) {
	const (
		key16 = "K3y-Of-16-Chars!"
		key32 = "a 32-character secret key ......"
		iv    = "Zz09AaBb7Cc8Dd6E"
	)
	k16, k32 := mustKey(t, key16), mustKey(t, key32)
	users := []string{"a", "bob@example.com", "sip:alice@example.com", "ünïcødé@exämple.org",
		strings.Repeat("x", 18), strings.Repeat("long.user.name", 5) + "@example.com"}
	for i, user := range users {
		ts := int64(1_600_000_000_000 + i*7919)
		tsText := strconv.FormatInt(ts, 10)
		t.Run(user, func(t *testing.T) {
			// 16-character key.
			ecb := openssl(t, []byte(user+";"+tsText), "enc", "-aes-128-ecb", "-K", hex.EncodeToString([]byte(key16)))
			got, err := k16.Mint(user, ts, "")
			if err != nil {
				t.Fatal(err)
			}
			if want := hex.EncodeToString(ecb); got != want {
				t.Errorf("ECB token %s, openssl says %s", got, want)
			}

			// 32-character key.
			cbc := openssl(t, []byte(user+";x-ts="+tsText), "enc", "-aes-256-cbc",
				"-K", hex.EncodeToString([]byte(key32)), "-iv", hex.EncodeToString([]byte(iv)))
			ivct := iv + strings.ToUpper(hex.EncodeToString(cbc))
			dgst := strings.Fields(string(openssl(t, []byte(ivct), "dgst", "-sha256", "-hmac", key32)))
			if len(dgst) == 0 {
				t.Fatal("openssl dgst printed nothing")
			}
			mac := strings.ToUpper(dgst[len(dgst)-1])
			got, err = k32.Mint(user, ts, iv)
			if err != nil {
				t.Fatal(err)
			}
			if want := mac + ivct; got != want {
				t.Errorf("CBC token %s, openssl says %s", got, want)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 24, 31, 32, 33, 64} {
		_, err := ParseKey(strings.Repeat("k", n))
		if wantOK := n == 16 || n == 32; (err == nil) != wantOK {
			t.Errorf("ParseKey(%d characters) err = %v, want ok=%v", n, err, wantOK)
		}
		if err != nil && !errors.Is(err, ErrKeyLength) {
			t.Errorf("ParseKey(%d characters) err = %v, want ErrKeyLength", n, err)
		}
	}
	// Characters are bytes: 16 runes of two bytes each are 32 bytes.
	if k, err := ParseKey(strings.Repeat("é", 16)); err != nil || !k.UsesIV() {
		t.Errorf("16 two-byte runes: %v, UsesIV=%v; want a 32-byte key", err, k.UsesIV())
	}
	var zero Key
	if _, err := zero.Mint("u", 1, ""); !errors.Is(err, ErrKeyLength) {
		t.Errorf("zero Key Mint err = %v", err)
	}
	if _, err := zero.Open("00"); !errors.Is(err, ErrKeyLength) {
		t.Errorf("zero Key Open err = %v", err)
	}
}

func TestMintBadIV(t *testing.T) {
	k := mustKey(t, strings.Repeat("k", 32))
	for _, iv := range []string{"", "short", "AbCdEfGh1234567!", "AbCdEfGh123456789", "ÄbCdEfGh1234567"} {
		if _, err := k.Mint("u", 1, iv); !errors.Is(err, ErrBadIV) {
			t.Errorf("Mint with IV %q: err = %v, want ErrBadIV", iv, err)
		}
	}
}

func TestNewIV(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		iv, err := NewIV(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !validIV(iv) {
			t.Fatalf("NewIV = %q", iv)
		}
		seen[iv] = true
	}
	if len(seen) < 50 {
		t.Errorf("50 random IVs gave only %d distinct values", len(seen))
	}
	// Bytes at or above 248 are skipped, the rest map to the alphabet.
	iv, err := NewIV(bytes.NewReader(append([]byte{255, 248}, []byte{0, 61, 62, 247, 10, 20, 30, 40, 50, 1, 2, 3, 4, 5, 6, 7}...)))
	if err != nil || iv != "A9A9KUeoyBCDEFGH" {
		t.Errorf("NewIV(fixed bytes) = %q, %v", iv, err)
	}
	if _, err := NewIV(bytes.NewReader([]byte{1, 2})); err == nil {
		t.Error("NewIV from a short reader succeeded")
	}
}

func TestOpenRejects(t *testing.T) {
	vs := loadVectors(t)
	ecbKey, cbcKey := mustKey(t, vs[0].Key), mustKey(t, vs[1].Key)
	ecbTok, cbcTok := vs[0].Params.FromToken, vs[1].Params.FromToken
	otherECB := mustKey(t, "another16charkey")
	forged, err := otherECB.Mint("sip:bob@example.com", 1700000000000, "")
	if err != nil {
		t.Fatal(err)
	}
	mintedWith := func(k Key, plain string) string {
		// A token whose plaintext Mint would never write.
		padded := pad([]byte(plain))
		ct := make([]byte, len(padded))
		for i := 0; i < len(padded); i += 16 {
			k.block.Encrypt(ct[i:i+16], padded[i:i+16])
		}
		return hex.EncodeToString(ct)
	}
	cbcMAC, cbcRest := cbcTok[:macHexLen], cbcTok[macHexLen:]
	tests := []struct {
		name string
		key  Key
		tok  string
	}{
		{"empty", ecbKey, ""},
		{"ECB odd length", ecbKey, ecbTok[:len(ecbTok)-1]},
		{"ECB half a block", ecbKey, ecbTok[:16]},
		{"ECB uppercase", ecbKey, strings.ToUpper(ecbTok)},
		{"ECB not hex", ecbKey, strings.Repeat("zz", 16)},
		{"ECB wrong key", otherECB, ecbTok},
		{"ECB forged with another key", ecbKey, forged},
		{"ECB no separator", ecbKey, mintedWith(ecbKey, "bob1700000000000")},
		{"ECB empty user", ecbKey, mintedWith(ecbKey, ";1700000000000")},
		{"ECB leading zero", ecbKey, mintedWith(ecbKey, "bob;01700000000000")},
		{"ECB signed timestamp", ecbKey, mintedWith(ecbKey, "bob;+1700000000000")},
		{"ECB negative timestamp", ecbKey, mintedWith(ecbKey, "bob;-5")},
		{"ECB zero timestamp", ecbKey, mintedWith(ecbKey, "bob;0")},
		{"ECB timestamp overflows", ecbKey, mintedWith(ecbKey, "bob;99999999999999999999")},
		{"ECB invalid UTF-8", ecbKey, mintedWith(ecbKey, "b\xffb;1700000000000")},
		{"ECB token on a CBC key", cbcKey, ecbTok},
		{"CBC token on an ECB key", ecbKey, cbcTok},
		{"CBC too short", cbcKey, cbcTok[:macHexLen+ivLen+31]},
		{"CBC lowercase MAC", cbcKey, strings.ToLower(cbcMAC) + cbcRest},
		{"CBC lowercase ciphertext", cbcKey, cbcMAC + cbcRest[:ivLen] + strings.ToLower(cbcRest[ivLen:])},
		{"CBC block dropped", cbcKey, cbcTok[:len(cbcTok)-32]},
		{"CBC other token's MAC", cbcKey, vs[1].Params.ToToken[:macHexLen] + cbcRest},
		{"CBC trailing byte", cbcKey, cbcTok + "0"},
		{"CBC wrong key", mustKey(t, strings.Repeat("q", 32)), cbcTok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.key.Open(tt.tok)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Open = %+v, %v; want ErrInvalidToken", c, err)
			}
		})
	}
	// A MAC'd token with a bad IV or body is still refused after the
	// MAC check passes.
	for name, ivct := range map[string]string{
		"IV with a dash":       "AbCdEfGh1234567-" + cbcRest[ivLen:],
		"odd-length body":      cbcRest + "A",
		"body not whole block": cbcRest + "AB",
	} {
		tok := cbcKey.mac(ivct) + ivct
		if _, err := cbcKey.Open(tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: err = %v, want ErrInvalidToken", name, err)
		}
	}
}

// flipDigit changes the hex digit at i to another digit of the same case.
func flipDigit(tok string, i int) string {
	b := []byte(tok)
	switch b[i] {
	case '9':
		b[i] = '0'
	case 'f':
		b[i] = 'a'
	case 'F':
		b[i] = 'A'
	default:
		b[i]++
	}
	return string(b)
}

// Tampering: one changed hex digit anywhere, in either scheme, gets the
// token refused.
func TestTamperedTokenRejected(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			ver := &Verifier{Realm: v.Params.Realm, Key: mustKey(t, v.Key), Now: func() time.Time { return time.UnixMilli(v.Timestamp) }}
			set := Set{Realm: v.Params.Realm, AccountToken: v.Params.AccountToken, FromToken: v.Params.FromToken, ToToken: v.Params.ToToken}
			if err := ver.CheckCall(set, v.Params.Caller, v.Params.Callee); err != nil {
				t.Fatalf("untouched set refused: %v", err)
			}
			tok := v.Params.FromToken
			for i := range tok {
				if tok[i] < '0' || (tok[i] > '9' && tok[i] < 'A') || (tok[i] > 'F' && tok[i] < 'a') || tok[i] > 'f' {
					continue // the IV's letters beyond F are not hex digits
				}
				bad := set
				bad.FromToken = flipDigit(tok, i)
				err := ver.CheckCall(bad, v.Params.Caller, v.Params.Callee)
				if !errors.Is(err, ErrInvalidToken) || Code(err) != CodeInvalidToken {
					t.Fatalf("digit %d flipped (%s): err = %v, want invalid token (46)", i, bad.FromToken, err)
				}
				if err := ver.CheckUser(bad.FromToken, v.Params.Caller); !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("digit %d flipped: CheckUser err = %v", i, err)
				}
			}
		})
	}
}

func TestCheckCall(t *testing.T) {
	vs := loadVectors(t)
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			minted := time.UnixMilli(v.Timestamp)
			now := minted
			ver := &Verifier{Realm: v.Params.Realm, Key: mustKey(t, v.Key), TTL: 10 * time.Minute, Skew: 30 * time.Second,
				Now: func() time.Time { return now }}
			good := Set{Realm: v.Params.Realm, AccountToken: v.Params.AccountToken, FromToken: v.Params.FromToken, ToToken: v.Params.ToToken}
			from, to := v.Params.Caller, v.Params.Callee
			// A set minted a second later: each token valid, but not of one set.
			k := mustKey(t, v.Key)
			later, err := Generate(k, Request{Realm: v.Params.Realm, Account: v.Account, Caller: from, Callee: to,
				Timestamp: v.Timestamp + 1000, IV: v.IV})
			if err != nil {
				t.Fatal(err)
			}
			with := func(f func(*Set)) Set { s := good; f(&s); return s }

			tests := []struct {
				name     string
				set      Set
				from, to string
				at       time.Time
				wantCode string // "" = accepted
			}{
				{"valid", good, from, to, minted, ""},
				{"valid without sip: prefixes", good, "bob@example.com", "alice@example.com", minted, ""},
				{"valid at the end of the TTL", good, from, to, minted.Add(10 * time.Minute), ""},
				{"valid within the skew", good, from, to, minted.Add(-30 * time.Second), ""},
				{"expired one millisecond past the TTL", good, from, to, minted.Add(10*time.Minute + time.Millisecond), CodeExpired},
				{"from the future beyond the skew", good, from, to, minted.Add(-30*time.Second - time.Millisecond), CodeInvalidToken},
				{"no realm", with(func(s *Set) { s.Realm = "" }), from, to, minted, CodeIncomplete},
				{"no accountToken", with(func(s *Set) { s.AccountToken = "" }), from, to, minted, CodeIncomplete},
				{"no fromToken", with(func(s *Set) { s.FromToken = "" }), from, to, minted, CodeIncomplete},
				{"no toToken", with(func(s *Set) { s.ToToken = "" }), from, to, minted, CodeIncomplete},
				{"nothing at all", Set{}, from, to, minted, CodeIncomplete},
				{"other realm", with(func(s *Set) { s.Realm = "other" }), from, to, minted, CodeInvalidRealm},
				{"realm differs in case", with(func(s *Set) { s.Realm = strings.ToUpper(s.Realm) }), from, to, minted, CodeInvalidRealm},
				{"garbage accountToken", with(func(s *Set) { s.AccountToken = "nonsense" }), from, to, minted, CodeInvalidToken},
				{"garbage toToken", with(func(s *Set) { s.ToToken = "nonsense" }), from, to, minted, CodeInvalidToken},
				{"claims another caller", good, "sip:eve@example.com", to, minted, CodeInvalidToken},
				{"claims another callee", good, from, "sip:carol@example.com", minted, CodeInvalidToken},
				// ECB has no MAC: a cut-off token may open, as another user.
				{"first block cut off", with(func(s *Set) { s.FromToken = s.FromToken[32:] }), from, to, minted, CodeInvalidToken},
				{"tokens swapped", with(func(s *Set) { s.FromToken, s.ToToken = s.ToToken, s.FromToken }), from, to, minted, CodeInvalidToken},
				{"fromToken from another set", with(func(s *Set) { s.FromToken = later.FromToken }), from, to, minted, CodeInvalidToken},
				{"accountToken from another set", with(func(s *Set) { s.AccountToken = later.AccountToken }), from, to, minted, CodeInvalidToken},
				{"invalid beats expired", with(func(s *Set) { s.ToToken = "nonsense" }), from, to, minted.Add(time.Hour), CodeInvalidToken},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					now = tt.at
					err := ver.CheckCall(tt.set, tt.from, tt.to)
					if got := Code(err); got != tt.wantCode || (tt.wantCode == "") != (err == nil) {
						t.Fatalf("CheckCall err = %v (code %q), want code %q", err, got, tt.wantCode)
					}
				})
			}
		})
	}
}

// A token works until its TTL has passed and not a millisecond longer; the
// clock is injected, nothing sleeps.
func TestTokenAcceptedThenExpires(t *testing.T) {
	v := loadVectors(t)[1]
	now := time.UnixMilli(v.Timestamp)
	ver := &Verifier{Realm: v.Params.Realm, Key: mustKey(t, v.Key), TTL: time.Minute, Now: func() time.Time { return now }}
	for _, step := range []struct {
		at      time.Duration
		wantErr error
	}{
		{0, nil}, {30 * time.Second, nil}, {time.Minute, nil},
		{time.Minute + time.Millisecond, ErrExpired}, {time.Hour, ErrExpired},
	} {
		now = time.UnixMilli(v.Timestamp).Add(step.at)
		err := ver.CheckUser(v.Params.ToToken, v.Params.Callee)
		if (step.wantErr == nil) != (err == nil) || (step.wantErr != nil && !errors.Is(err, step.wantErr)) {
			t.Fatalf("%s after minting: err = %v, want %v", step.at, err, step.wantErr)
		}
	}
	if !strings.Contains(ver.CheckUser(v.Params.ToToken, v.Params.Callee).Error(), "token expired") {
		t.Error("the expiry error does not use the SDK's words")
	}
}

func TestCheckUser(t *testing.T) {
	v := loadVectors(t)[0]
	ver := &Verifier{Realm: v.Params.Realm, Key: mustKey(t, v.Key), Now: func() time.Time { return time.UnixMilli(v.Timestamp) }}
	tests := []struct {
		tok, id  string
		wantCode string
	}{
		{v.Params.ToToken, v.Params.Callee, ""},
		{v.Params.ToToken, "alice@example.com", ""},
		{v.Params.AccountToken, "bob@example.com", ""},
		{v.Params.AccountToken, "sip:bob@example.com", ""},
		{v.Params.ToToken, "sip:bob@example.com", CodeInvalidToken},
		{"", "alice", CodeIncomplete},
		{"abc", "alice", CodeInvalidToken},
	}
	for _, tt := range tests {
		err := ver.CheckUser(tt.tok, tt.id)
		if got := Code(err); got != tt.wantCode {
			t.Errorf("CheckUser(%.12s…, %s) = %v, want code %q", tt.tok, tt.id, err, tt.wantCode)
		}
	}
}

func TestVerifierDefaults(t *testing.T) {
	v := loadVectors(t)[0]
	minted := time.UnixMilli(v.Timestamp)
	var now time.Time
	ver := &Verifier{Realm: v.Params.Realm, Key: mustKey(t, v.Key), Now: func() time.Time { return now }}
	for at, ok := range map[time.Duration]bool{
		DefaultTTL: true, DefaultTTL + time.Millisecond: false, -DefaultSkew: true, -DefaultSkew - time.Millisecond: false,
	} {
		now = minted.Add(at)
		if err := ver.CheckUser(v.Params.ToToken, v.Params.Callee); (err == nil) != ok {
			t.Errorf("%s after minting: err = %v, want ok=%v", at, err, ok)
		}
	}
}

func TestCode(t *testing.T) {
	tests := []struct {
		err  error
		code string
	}{
		{nil, ""},
		{errors.New("other"), ""},
		{ErrKeyLength, ""},
		{ErrInvalidToken, "46"},
		{ErrInvalidRealm, "64"},
		{ErrExpired, "65"},
		{ErrIncomplete, "call:7"},
	}
	for _, tt := range tests {
		if got := Code(tt.err); got != tt.code {
			t.Errorf("Code(%v) = %q, want %q", tt.err, got, tt.code)
		}
		if tt.code != "" && !IsCode(tt.code) {
			t.Errorf("IsCode(%q) = false", tt.code)
		}
	}
	if IsCode("bad_message") || IsCode("") {
		t.Error("IsCode accepts a non-token code")
	}
}

func TestParams(t *testing.T) {
	v := loadVectors(t)[0]
	data, err := json.Marshal(v.Params)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte(`{"realm":`)) || !bytes.Contains(data, []byte(`"toToken":`)) {
		t.Errorf("Params JSON %s", data)
	}
	back, err := ParseParams(data)
	if err != nil || back != v.Params {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if _, err := ParseParams([]byte(`{"realm":"r","caller":"c"}`)); !errors.Is(err, ErrIncomplete) ||
		!strings.Contains(err.Error(), "accountToken, fromToken, toToken, callee") {
		t.Errorf("incomplete params: %v", err)
	}
	if _, err := ParseParams([]byte(`[1,2]`)); err == nil {
		t.Error("a JSON array parsed as params")
	}

	for id, want := range map[string]string{
		"sip:alice@example.com": v.Params.ToToken, "alice@example.com": v.Params.ToToken,
		"SIP:alice@example.com": v.Params.ToToken, "sip:bob@example.com": v.Params.FromToken, "bob@example.com": v.Params.FromToken,
	} {
		if got, ok := v.Params.TokenFor(id); !ok || got != want {
			t.Errorf("TokenFor(%s) = %.12s…, %v", id, got, ok)
		}
	}
	if _, ok := v.Params.TokenFor("carol@example.com"); ok {
		t.Error("TokenFor a stranger succeeded")
	}
}

func TestSameUser(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"alice@x", "alice@x", true},
		{"sip:alice@x", "alice@x", true},
		{"alice@x", "SIP:alice@x", true},
		{"sip:alice@x", "sip:alice@x", true},
		{"alice@x", "Alice@x", false},
		{"sip:sip:alice@x", "alice@x", false},
		{"sips:alice@x", "alice@x", false},
		{"alice@x", "bob@x", false},
	} {
		if got := SameUser(tt.a, tt.b); got != tt.want {
			t.Errorf("SameUser(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}

func TestGenerate(t *testing.T) {
	k := mustKey(t, strings.Repeat("k", 32))
	fixed := time.UnixMilli(1_650_000_000_123)
	p, err := Generate(k, Request{Realm: "r", Account: "a@d", Caller: "sip:a@d", Callee: "sip:b@d", Now: func() time.Time { return fixed }})
	if err != nil {
		t.Fatal(err)
	}
	ver := &Verifier{Realm: "r", Key: k, Now: func() time.Time { return fixed }}
	if err := ver.CheckCall(Set{p.Realm, p.AccountToken, p.FromToken, p.ToToken}, p.Caller, p.Callee); err != nil {
		t.Fatalf("fresh set refused: %v", err)
	}
	c, _ := k.Open(p.ToToken)
	if c.Timestamp != fixed.UnixMilli() || !validIV(c.IV) {
		t.Errorf("claims %+v", c)
	}
	p2, err := Generate(k, Request{Realm: "r", Account: "a@d", Caller: "sip:a@d", Callee: "sip:b@d"})
	if err != nil {
		t.Fatal(err)
	}
	if p2.ToToken[macHexLen:macHexLen+ivLen] == p.ToToken[macHexLen:macHexLen+ivLen] {
		t.Error("two sets share an IV")
	}
	for name, r := range map[string]Request{
		"no realm":           {Account: "a", Caller: "c", Callee: "d"},
		"blank account":      {Realm: "r", Account: " ", Caller: "c", Callee: "d"},
		"no callee":          {Realm: "r", Account: "a", Caller: "c"},
		"negative timestamp": {Realm: "r", Account: "a", Caller: "c", Callee: "d", Timestamp: -1},
		"bad IV":             {Realm: "r", Account: "a", Caller: "c", Callee: "d", IV: "nope"},
	} {
		if _, err := Generate(k, r); err == nil {
			t.Errorf("%s: Generate succeeded", name)
		}
	}
}

func FuzzOpen(f *testing.F) {
	vs := loadVectors(f)
	for _, v := range vs {
		for _, tok := range []string{v.Params.AccountToken, v.Params.FromToken, v.Params.ToToken} {
			f.Add(tok)
			f.Add(tok[:len(tok)/2])
			f.Add(strings.ToUpper(tok))
		}
	}
	for _, s := range []string{"", "00", strings.Repeat("0", 32), strings.Repeat("F", 144), "zz"} {
		f.Add(s)
	}
	keys := []Key{mustKey(f, vs[0].Key), mustKey(f, vs[1].Key)}
	f.Fuzz(func(t *testing.T, tok string) {
		for _, k := range keys {
			c, err := k.Open(tok)
			if err != nil {
				if !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("Open(%q) error %v is not ErrInvalidToken", tok, err)
				}
				continue
			}
			// Open is strict: whatever opens is exactly what Mint makes.
			again, err := k.Mint(c.User, c.Timestamp, c.IV)
			if err != nil || again != tok {
				t.Fatalf("Open(%q) = %+v, which re-mints to %q (%v)", tok, c, again, err)
			}
		}
	})
}

// BenchmarkToken is the server's cost per token: opening (decrypting and
// checking) one minted with each kind of key.
func BenchmarkToken(b *testing.B) {
	for _, tt := range []struct{ name, key, iv string }{
		{"16-character key", "0123456789abcdef", ""},
		{"32-character key", "0123456789abcdef0123456789abcdef", "AbCdEfGhIjKlMnOp"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			k := mustKey(b, tt.key)
			tok, err := k.Mint("sip:alice@example.com", 1700000000000, tt.iv)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Open(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
