package service

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
)

// An event's kept and personal parts are stored in a compact binary form:
// a format byte, then each field in a fixed order, strings length-prefixed
// (uvarint) and integers as varints. Decoding it costs a small fraction of
// decoding JSON, which a history page does twice per event. Events written
// as JSON before (they begin with '{') are still read.
const eventFormatV1 = 0x01

// The kinds of a keptPrevious in the binary form.
const (
	prevPersonal = iota // the old value is in the personal part
	prevValue           // Value is set
	prevUnix            // Unix is set
)

var errEventFormat = errors.New("malformed event data")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeKept returns the stored form of k.
func encodeKept(k keptData) []byte {
	b := make([]byte, 0, 32+16*len(k.Previous))
	b = append(b, eventFormatV1)
	b = appendString(b, k.CountryCode)
	b = binary.AppendVarint(b, k.DateCreated)
	b = binary.AppendVarint(b, k.LastUpdated)
	b = binary.AppendUvarint(b, uint64(len(k.Previous)))
	for _, p := range k.Previous {
		b = appendString(b, p.Field)
		switch {
		case p.Unix != nil:
			b = append(b, prevUnix)
			b = binary.AppendVarint(b, *p.Unix)
		case p.Value != nil:
			b = append(b, prevValue)
			b = appendString(b, *p.Value)
		default:
			b = append(b, prevPersonal)
		}
	}
	return b
}

// encodePersonal returns the stored form of p, before sealing: the old
// values in field-name order.
func encodePersonal(p *personalData) []byte {
	b := make([]byte, 0, 96)
	b = append(b, eventFormatV1)
	for _, s := range [...]string{p.ObjectReferenceID, p.MobileNumber, p.EmailAddress, p.FirstName, p.LastName} {
		b = appendString(b, s)
	}
	fields := make([]string, 0, len(p.Previous))
	for f := range p.Previous {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	b = binary.AppendUvarint(b, uint64(len(fields)))
	for _, f := range fields {
		b = appendString(b, f)
		if v := p.Previous[f]; v != nil {
			b = append(b, 1)
			b = appendString(b, *v)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

// reader reads the binary form; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err, r.b = errEventFormat, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

// varint reads what binary.AppendVarint wrote: a zig-zag uvarint.
func (r *reader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.err = errEventFormat
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err, r.b = errEventFormat, nil
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// count reads a number of items, each at least min bytes long, that the
// rest of the input can hold.
func (r *reader) count(min int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/min) {
		r.err, r.b = errEventFormat, nil
		return 0
	}
	return int(n)
}

// finish is the reader's error, or errEventFormat when bytes are left.
func (r *reader) finish() error {
	if r.err == nil && len(r.b) > 0 {
		return errEventFormat
	}
	return r.err
}

// newReader starts reading a stored part in the binary form. A part
// stored as JSON, as events were before, is decoded into v at once, and the
// reader is nil.
func newReader(b []byte, v any) (*reader, error) {
	if len(b) > 0 && b[0] == '{' {
		return nil, json.Unmarshal(b, v)
	}
	if len(b) == 0 || b[0] != eventFormatV1 {
		return nil, errEventFormat
	}
	return &reader{b: b[1:]}, nil
}

// decodeKept reads a stored kept part, binary or JSON.
func decodeKept(b []byte) (keptData, error) {
	var k keptData
	r, err := newReader(b, &k)
	if r == nil {
		return k, err
	}
	k.CountryCode = r.string()
	k.DateCreated = r.varint()
	k.LastUpdated = r.varint()
	if n := r.count(2); n > 0 {
		k.Previous = make([]keptPrevious, n)
		for i := range k.Previous {
			p := &k.Previous[i]
			p.Field = r.string()
			switch r.byte() {
			case prevPersonal:
			case prevValue:
				v := r.string()
				p.Value = &v
			case prevUnix:
				v := r.varint()
				p.Unix = &v
			default:
				r.err = errEventFormat
			}
		}
	}
	return k, r.finish()
}

// decodePersonal reads an opened personal part, binary or JSON.
func decodePersonal(b []byte) (personalData, error) {
	var p personalData
	r, err := newReader(b, &p)
	if r == nil {
		return p, err
	}
	p.ObjectReferenceID, p.MobileNumber, p.EmailAddress = r.string(), r.string(), r.string()
	p.FirstName, p.LastName = r.string(), r.string()
	if n := r.count(2); n > 0 {
		p.Previous = make(map[string]*string, n)
		for range n {
			f := r.string()
			switch r.byte() {
			case 0:
				p.Previous[f] = nil
			case 1:
				v := r.string()
				p.Previous[f] = &v
			default:
				r.err = errEventFormat
			}
		}
	}
	return p, r.finish()
}
