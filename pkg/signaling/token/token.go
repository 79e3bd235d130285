// Package token mints and checks the tokens of token-based anonymous calls,
// byte for byte as the Kandy "Generating Tokens" sample computes them, so
// that tokens minted by existing application backends work (the algorithm
// is summarised in docs/protocol.md, "Token-based calls").
//
// A realm's secret key decides the scheme:
//
//   - 16 characters: lowercase hex of AES-128-ECB, PKCS#7, of
//     utf8(user + ";" + timestamp);
//   - 32 characters: a random 16-character [A-Za-z0-9] IV; ct = uppercase hex
//     of AES-256-CBC, PKCS#7, iv = utf8(iv), of utf8(user + ";x-ts=" +
//     timestamp); token = uppercase hex of HMAC-SHA256(key, iv + ct),
//     followed by iv + ct.
//
// The timestamp is Unix milliseconds, one for the three tokens of a set.
package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Errors. The server reports the last four with the SDK's codes; see
// Code.
var (
	// ErrKeyLength: a key that is neither 16 nor 32 characters long.
	ErrKeyLength = errors.New("token key must be 16 or 32 characters long")
	// ErrBadIV: an IV that is not 16 characters of [A-Za-z0-9].
	ErrBadIV = errors.New("token IV must be 16 characters of A-Z, a-z, 0-9")
	// ErrInvalidToken: a token that does not decrypt or verify, or that
	// was minted for somebody else (SDK code 46).
	ErrInvalidToken = errors.New("invalid token")
	// ErrInvalidRealm: credentials for another realm (SDK code 64).
	ErrInvalidRealm = errors.New("invalid realm")
	// ErrExpired: a token older than the server's validity window (SDK
	// code 65).
	ErrExpired = errors.New("token expired")
	// ErrIncomplete: a token or a credential field is missing (the SDK's
	// call:7, invalid parameter).
	ErrIncomplete = errors.New("incomplete token set")
)

// The SDK's codes for the errors above, as the server sends them in the
// "code" field of an "error" message.
const (
	CodeInvalidToken = "46"
	CodeInvalidRealm = "64"
	CodeExpired      = "65"
	CodeIncomplete   = "call:7"
)

// Code is the SDK's code for err, or "" if err is not one of the four
// rejections.
func Code(err error) string {
	switch {
	case errors.Is(err, ErrIncomplete):
		return CodeIncomplete
	case errors.Is(err, ErrInvalidRealm):
		return CodeInvalidRealm
	case errors.Is(err, ErrExpired):
		return CodeExpired
	case errors.Is(err, ErrInvalidToken):
		return CodeInvalidToken
	default:
		return ""
	}
}

// IsCode reports whether code is one of the SDK codes above.
func IsCode(code string) bool {
	switch code {
	case CodeInvalidToken, CodeInvalidRealm, CodeExpired, CodeIncomplete:
		return true
	}
	return false
}

const (
	ivLen     = 16
	macHexLen = 2 * sha256.Size
	ecbSep    = ";"
	cbcSep    = ";x-ts="
)

// Key is a realm's secret. Its length picks the scheme.
type Key struct {
	secret []byte
	block  cipher.Block
}

// ParseKey checks the key's length. The key is used as its UTF-8 bytes,
// so "characters" means bytes.
func ParseKey(s string) (Key, error) {
	if len(s) != 16 && len(s) != 32 {
		return Key{}, fmt.Errorf("%w, not %d", ErrKeyLength, len(s))
	}
	block, err := aes.NewCipher([]byte(s))
	if err != nil {
		return Key{}, err
	}
	return Key{secret: []byte(s), block: block}, nil
}

// UsesIV reports whether the key is a 32-character one, whose tokens carry
// an IV and an HMAC.
func (k Key) UsesIV() bool { return len(k.secret) == 32 }

// Claims is what a token says.
type Claims struct {
	User string
	// Timestamp is when the token was minted, Unix milliseconds.
	Timestamp int64
	// IV is the token's IV (32-character keys only).
	IV string
}

// NewIV draws a random IV from r (crypto/rand when nil).
func NewIV(r io.Reader) (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	if r == nil {
		r = rand.Reader
	}
	out := make([]byte, 0, ivLen)
	var b [1]byte
	for len(out) < ivLen {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", fmt.Errorf("token: drawing an IV: %w", err)
		}
		// 248 = 4*62: rejecting the rest keeps every character equally likely.
		if b[0] < 248 {
			out = append(out, alphabet[int(b[0])%len(alphabet)])
		}
	}
	return string(out), nil
}

func validIV(iv string) bool {
	if len(iv) != ivLen {
		return false
	}
	for i := 0; i < len(iv); i++ {
		c := iv[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Mint makes the token for user at timestamp (Unix ms). iv is used by
// 32-character keys only and must then satisfy ErrBadIV's rule.
func (k Key) Mint(user string, timestamp int64, iv string) (string, error) {
	if k.block == nil {
		return "", ErrKeyLength
	}
	if !k.UsesIV() {
		plain := pad([]byte(user + ecbSep + strconv.FormatInt(timestamp, 10)))
		ct := make([]byte, len(plain))
		for i := 0; i < len(plain); i += aes.BlockSize {
			k.block.Encrypt(ct[i:i+aes.BlockSize], plain[i:i+aes.BlockSize])
		}
		return hex.EncodeToString(ct), nil
	}
	if !validIV(iv) {
		return "", fmt.Errorf("%w: got %q", ErrBadIV, iv)
	}
	plain := pad([]byte(user + cbcSep + strconv.FormatInt(timestamp, 10)))
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(k.block, []byte(iv)).CryptBlocks(ct, plain)
	ivct := iv + strings.ToUpper(hex.EncodeToString(ct))
	return k.mac(ivct) + ivct, nil
}

func (k Key) mac(ivct string) string {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(ivct))
	return strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
}

// Open decrypts and verifies a token. It is strict: only exactly what Mint
// produces opens (hex of the right case, canonical timestamp), so a token
// that opens re-mints to itself. Every failure wraps ErrInvalidToken and
// says nothing about the token's content.
func (k Key) Open(tok string) (Claims, error) {
	if k.block == nil {
		return Claims{}, ErrKeyLength
	}
	if tok == "" {
		return Claims{}, fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	if !k.UsesIV() {
		ct, ok := decodeHex(tok, false)
		if !ok || len(ct)%aes.BlockSize != 0 {
			return Claims{}, fmt.Errorf("%w: not lowercase hex of whole AES blocks", ErrInvalidToken)
		}
		plain := make([]byte, len(ct))
		for i := 0; i < len(ct); i += aes.BlockSize {
			k.block.Decrypt(plain[i:i+aes.BlockSize], ct[i:i+aes.BlockSize])
		}
		return parsePlain(plain, ecbSep)
	}
	if len(tok) < macHexLen+ivLen+2*aes.BlockSize {
		return Claims{}, fmt.Errorf("%w: too short", ErrInvalidToken)
	}
	ivct := tok[macHexLen:]
	// Constant time: a server that answered faster for a better guess
	// would let a client forge the MAC byte by byte.
	if subtle.ConstantTimeCompare([]byte(tok[:macHexLen]), []byte(k.mac(ivct))) != 1 {
		return Claims{}, fmt.Errorf("%w: signature does not match", ErrInvalidToken)
	}
	iv := ivct[:ivLen]
	ct, ok := decodeHex(ivct[ivLen:], true)
	if !validIV(iv) || !ok || len(ct)%aes.BlockSize != 0 {
		return Claims{}, fmt.Errorf("%w: malformed IV or ciphertext", ErrInvalidToken)
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(k.block, []byte(iv)).CryptBlocks(plain, ct)
	c, err := parsePlain(plain, cbcSep)
	c.IV = iv
	return c, err
}

// decodeHex decodes hex of one case only.
func decodeHex(s string, upper bool) ([]byte, bool) {
	if len(s) == 0 || len(s)%2 != 0 {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		digit := c >= '0' && c <= '9'
		letter := (upper && c >= 'A' && c <= 'F') || (!upper && c >= 'a' && c <= 'f')
		if !digit && !letter {
			return nil, false
		}
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

// parsePlain unpads and splits "user<sep>timestamp".
func parsePlain(padded []byte, sep string) (Claims, error) {
	plain, ok := unpad(padded)
	if !ok {
		return Claims{}, fmt.Errorf("%w: bad padding", ErrInvalidToken)
	}
	s := string(plain)
	i := strings.LastIndex(s, sep)
	if i <= 0 || !utf8.ValidString(s) {
		return Claims{}, fmt.Errorf("%w: not a user and a timestamp", ErrInvalidToken)
	}
	ts, ok := parseMillis(s[i+len(sep):])
	if !ok {
		return Claims{}, fmt.Errorf("%w: bad timestamp", ErrInvalidToken)
	}
	return Claims{User: s[:i], Timestamp: ts}, nil
}

// parseMillis accepts a positive decimal without sign or leading zeros:
// what strconv.FormatInt writes.
func parseMillis(s string) (int64, bool) {
	if s == "" || s[0] == '0' || s[0] == '+' || s[0] == '-' {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v > 0
}

func pad(b []byte) []byte {
	n := aes.BlockSize - len(b)%aes.BlockSize
	out := make([]byte, len(b), len(b)+n)
	copy(out, b)
	for range n {
		out = append(out, byte(n))
	}
	return out
}

func unpad(b []byte) ([]byte, bool) {
	if len(b) == 0 || len(b)%aes.BlockSize != 0 {
		return nil, false
	}
	n := int(b[len(b)-1])
	if n == 0 || n > aes.BlockSize {
		return nil, false
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, false
		}
	}
	return b[:len(b)-n], true
}
