package delta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// scanner reads the JSON that the delta encoding stores, keeping values as
// the bytes they were written as: the reader copies them into the samples
// it rebuilds, and encoding/json's generic decoding was most of a dump's
// time. It checks the syntax it relies on; anything else is a damaged row.
type scanner struct {
	data []byte
	i    int
}

var errSyntax = errors.New("malformed JSON")

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", errSyntax, s.i, fmt.Sprintf(format, args...))
}

func (s *scanner) ws() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.data) {
		return 0
	}
	return s.data[s.i]
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return s.errorf("want %q", c)
	}
	s.i++
	return nil
}

// more reports whether a list (closed by end) has another element, taking
// the comma before it.
func (s *scanner) more(end byte, first bool) (bool, error) {
	switch c := s.peek(); {
	case c == end:
		s.i++
		return false, nil
	case first:
		return true, nil
	case c == ',':
		s.i++
		return true, nil
	default:
		return false, s.errorf("want ',' or %q", end)
	}
}

// value returns the next value's bytes.
func (s *scanner) value() ([]byte, error) {
	c := s.peek() // past the white space: the value starts here
	start := s.i
	var err error
	switch {
	case c == '"':
		err = s.skipString()
	case c == '{' || c == '[':
		err = s.skipNested()
	case c == '-' || (c >= '0' && c <= '9'):
		err = s.skipNumber()
	case c == 't' || c == 'f' || c == 'n':
		err = s.errorf("bad literal")
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(s.data[s.i:], []byte(lit)) {
				s.i += len(lit)
				err = nil
				break
			}
		}
	default:
		err = s.errorf("want a value")
	}
	if err != nil {
		return nil, err
	}
	return s.data[start:s.i], nil
}

func (s *scanner) skipString() error {
	s.i++ // the opening quote
	for s.i < len(s.data) {
		switch c := s.data[s.i]; {
		case c == '"':
			s.i++
			return nil
		case c == '\\':
			s.i += 2
		case c < 0x20:
			return s.errorf("control character in a string")
		default:
			s.i++
		}
	}
	return s.errorf("unterminated string")
}

func (s *scanner) skipNested() error {
	depth := 0
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case '"':
			if err := s.skipString(); err != nil {
				return err
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.i++
				return nil
			}
		}
		s.i++
	}
	return s.errorf("unterminated object or array")
}

// skipNumber accepts JSON's number grammar.
func (s *scanner) skipNumber() error {
	d := s.data
	digits := func() int {
		n := 0
		for s.i < len(d) && d[s.i] >= '0' && d[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(d) && d[s.i] == '-' {
		s.i++
	}
	if s.i < len(d) && d[s.i] == '0' { // no leading zeros
		s.i++
	} else if digits() == 0 {
		return s.errorf("bad number")
	}
	if s.i < len(d) && d[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return s.errorf("bad number")
		}
	}
	if s.i < len(d) && (d[s.i] == 'e' || d[s.i] == 'E') {
		s.i++
		if s.i < len(d) && (d[s.i] == '+' || d[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return s.errorf("bad number")
		}
	}
	return nil
}

// int reads an integer.
func (s *scanner) int() (int64, error) {
	raw, err := s.value()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, s.errorf("want an integer, got %s", raw)
	}
	return n, nil
}

// key reads an object member's name and the colon after it, returning the
// name decoded and as written.
func (s *scanner) key() (name string, quoted []byte, err error) {
	if s.peek() != '"' {
		return "", nil, s.errorf("want a key")
	}
	quoted, err = s.value()
	if err != nil {
		return "", nil, err
	}
	name, err = unquote(quoted)
	if err != nil {
		return "", nil, err
	}
	return name, quoted, s.expect(':')
}

// unquote decodes a JSON string, without encoding/json for the common
// case of one without escapes.
func unquote(quoted []byte) (string, error) {
	inner := quoted[1 : len(quoted)-1]
	for _, c := range inner {
		if c == '\\' {
			var v string
			if err := json.Unmarshal(quoted, &v); err != nil {
				return "", err
			}
			return v, nil
		}
	}
	return string(inner), nil
}

// object reads one object, its members in key order (as encoding/json
// writes a map, so that the object written back is the same bytes).
func (s *scanner) object() (rawObject, error) {
	if err := s.expect('{'); err != nil {
		return nil, err
	}
	var o rawObject
	for first := true; ; first = false {
		more, err := s.more('}', first)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		name, quoted, err := s.key()
		if err != nil {
			return nil, err
		}
		val, err := s.value()
		if err != nil {
			return nil, err
		}
		o = append(o, rawMember{key: name, qkey: quoted, val: val})
	}
	for i := 1; i < len(o); i++ {
		if o[i-1].key >= o[i].key { // not as encoding/json writes it: sort
			sortMembers(o)
			break
		}
	}
	return o, nil
}

// end checks that nothing but white space follows.
func (s *scanner) end() error {
	if s.peek() != 0 {
		return s.errorf("trailing data")
	}
	return nil
}
