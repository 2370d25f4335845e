// Package transfer reads and writes the files of customerd's bulk import and
// export: CSV with a header row naming the contract's fields, and NDJSON with
// one customer object per line in the shape GET /customers/{id} answers (as
// Juspay returns it). It knows the formats only; the field rules are the
// domain's (customerd.ImportedCustomer) and the writes the service's.
package transfer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"customerd"
)

// Format is a file format of import and export.
type Format int

// The formats. FormatAuto, for a reader, looks at the first line: a '{'
// starts NDJSON, anything else is a CSV header.
const (
	FormatAuto Format = iota
	FormatCSV
	FormatNDJSON
)

// String returns the format's name as the command line spells it.
func (f Format) String() string {
	switch f {
	case FormatCSV:
		return "csv"
	case FormatNDJSON:
		return "ndjson"
	}
	return "auto"
}

// ParseFormat reads a format's name: "csv", "ndjson" (or "jsonl") and "auto".
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return FormatAuto, nil
	case "csv":
		return FormatCSV, nil
	case "ndjson", "jsonl":
		return FormatNDJSON, nil
	}
	return FormatAuto, fmt.Errorf("unknown format %q: want csv or ndjson", s)
}

// MaxLineBytes bounds one line of an import file. The longest valid row is
// under 4 KiB (a 128-character reference of 4-byte characters, every value
// escaped); the bound leaves room for keys an import ignores and keeps the
// memory of a reader small and fixed, whatever the file holds.
const MaxLineBytes = 64 << 10

// Columns are the CSV columns, in the order export writes them: the keys
// of the customer object, in its order, but "object", which is always
// "customer". Import takes them in any order, and "object" too.
var Columns = []string{customerd.FieldID, customerd.FieldObjectReferenceID, customerd.FieldMobileNumber,
	customerd.FieldDateCreated, customerd.FieldLastUpdated, customerd.FieldEmailAddress, customerd.FieldFirstName,
	customerd.FieldLastName, customerd.FieldMobileCountryCode}

// knownKeys are the keys of the customer object an import reads.
var knownKeys = map[string]bool{customerd.FieldObject: true}

func init() {
	for _, c := range Columns {
		knownKeys[c] = true
	}
}

// Row is one customer of an import file, as the file gives it.
type Row struct {
	Line int // 1 for the file's first line
	Req  customerd.ImportRequest
}

// LineError is a line that holds no customer: it cannot be parsed, or is
// not valid text. The reader goes on with the next line.
type LineError struct {
	Line   int
	Field  string // the key or column at fault, "" for the whole line
	Reason string
}

func (e *LineError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Reason)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
}

// HeaderError is a CSV header that does not name the customer's fields: no
// line of the file can be read.
type HeaderError struct {
	Line   int
	Reason string
}

func (e *HeaderError) Error() string {
	return fmt.Sprintf("line %d: the CSV header %s", e.Line, e.Reason)
}

// Reader reads the rows of an import file, one line at a time: its memory
// stays within a few times MaxLineBytes, whatever the file's size.
type Reader struct {
	br     *bufio.Reader
	format Format
	line   int   // lines read
	read   int64 // bytes read
	header []string
	cells  []string
	err    error // sticky: io.EOF, a HeaderError or a read error
}

// NewReader returns a reader of r in format f (FormatAuto: see Format).
func NewReader(r io.Reader, f Format) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, MaxLineBytes+2), format: f}
}

// Format returns the reader's format, known once Next has been called.
func (r *Reader) Format() Format { return r.format }

// BytesRead returns how many bytes of the input the rows read so far
// took, for a progress report.
func (r *Reader) BytesRead() int64 { return r.read }

// Next returns the next row. A line that holds no customer is a *LineError,
// after which Next goes on; blank lines are skipped. The end of the input is
// io.EOF; a bad CSV header is a *HeaderError, and a failure to read the
// input is returned as it is: after those, Next returns the same error again.
func (r *Reader) Next() (Row, error) {
	for r.err == nil {
		line, err := r.readLine()
		if err != nil {
			r.err = err
			break
		}
		n := r.line
		if line == nil { // too long: the rest was skipped
			return Row{}, &LineError{Line: n, Reason: fmt.Sprintf("is longer than %d bytes", MaxLineBytes)}
		}
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // a spreadsheet's byte order mark
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if bytes.IndexByte(line, 0) >= 0 {
			return Row{}, &LineError{Line: n, Reason: "contains a NUL byte"}
		}
		if !utf8.Valid(line) {
			return Row{}, &LineError{Line: n, Reason: "is not valid UTF-8"}
		}
		if r.format == FormatAuto {
			r.format = FormatCSV
			if bytes.TrimSpace(line)[0] == '{' {
				r.format = FormatNDJSON
			}
		}
		if r.format == FormatNDJSON {
			req, lerr := ParseJSONLine(line)
			if lerr != nil {
				lerr.Line = n
				return Row{}, lerr
			}
			return Row{Line: n, Req: req}, nil
		}
		if r.header == nil {
			h, err := parseHeader(string(line))
			if err != nil {
				r.err = &HeaderError{Line: n, Reason: err.Error()}
				break
			}
			r.header = h
			continue
		}
		req, lerr := r.csvRow(string(line))
		if lerr != nil {
			lerr.Line = n
			return Row{}, lerr
		}
		return Row{Line: n, Req: req}, nil
	}
	return Row{}, r.err
}

// readLine returns the next line without its line break, nil for a line
// longer than MaxLineBytes (whose rest it skips), and io.EOF at the end. A
// last line without a line break is a line too: a file cut short shows as a
// row that does not parse. The slice is valid until the next call.
func (r *Reader) readLine() ([]byte, error) {
	tooLong := false
	for {
		b, err := r.br.ReadSlice('\n')
		r.read += int64(len(b))
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			tooLong = true
			continue
		case errors.Is(err, io.EOF) && len(b) == 0 && !tooLong:
			return nil, io.EOF
		case err != nil && !errors.Is(err, io.EOF):
			return nil, err
		}
		r.line++
		if tooLong {
			return nil, nil
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		return bytes.TrimSuffix(b, []byte("\r")), nil
	}
}

// parseHeader checks a CSV header: known names, each once, the required
// fields present.
func parseHeader(line string) ([]string, error) {
	names, err := SplitCSV(line, nil)
	if err != nil {
		return nil, err
	}
	var unknown []string
	for i, n := range names {
		n = strings.TrimSpace(n)
		names[i] = n
		switch {
		case !knownKeys[n]:
			unknown = append(unknown, fmt.Sprintf("%q", n))
		case slices.Contains(names[:i], n):
			return nil, fmt.Errorf("names %s twice", n)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("has unknown columns %s: the columns are %s (and object)",
			strings.Join(unknown, ", "), strings.Join(Columns, ", "))
	}
	for _, req := range []string{customerd.FieldObjectReferenceID, customerd.FieldMobileNumber} {
		if !slices.Contains(names, req) {
			return nil, fmt.Errorf("has no %s column", req)
		}
	}
	return names, nil
}

// csvRow reads one CSV record. An empty cell is an absent field: CSV cannot
// tell an empty value from a missing one.
func (r *Reader) csvRow(line string) (customerd.ImportRequest, *LineError) {
	var err error
	if r.cells, err = SplitCSV(line, r.cells[:0]); err != nil {
		return customerd.ImportRequest{}, &LineError{Reason: err.Error()}
	}
	if len(r.cells) != len(r.header) {
		return customerd.ImportRequest{}, &LineError{Reason: fmt.Sprintf("has %d fields, the header has %d", len(r.cells), len(r.header))}
	}
	var req customerd.ImportRequest
	for i, name := range r.header {
		if v := r.cells[i]; v != "" {
			if lerr := set(&req, name, v); lerr != nil {
				return customerd.ImportRequest{}, lerr
			}
		}
	}
	return req, nil
}

// set stores the value of a known key in req.
func set(req *customerd.ImportRequest, key, v string) *LineError {
	dst := field(req, key)
	if dst == nil { // "object"
		if v != "" && v != "customer" {
			return &LineError{Field: key, Reason: fmt.Sprintf("is %q, not \"customer\"", clip(v))}
		}
		return nil
	}
	*dst = customerd.Present(v)
	return nil
}

// field returns where req keeps a key's value: nil for "object".
func field(req *customerd.ImportRequest, key string) *customerd.Value {
	switch key {
	case customerd.FieldID:
		return &req.ID
	case customerd.FieldObjectReferenceID:
		return &req.ObjectReferenceID
	case customerd.FieldMobileNumber:
		return &req.MobileNumber
	case customerd.FieldMobileCountryCode:
		return &req.MobileCountryCode
	case customerd.FieldEmailAddress:
		return &req.EmailAddress
	case customerd.FieldFirstName:
		return &req.FirstName
	case customerd.FieldLastName:
		return &req.LastName
	case customerd.FieldDateCreated:
		return &req.DateCreated
	case customerd.FieldLastUpdated:
		return &req.LastUpdated
	}
	return nil
}

// clip shortens a value quoted in a reason.
func clip(s string) string {
	if len(s) <= 40 {
		return s
	}
	i := 40
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// SplitCSV splits one CSV record (RFC 4180) that holds no line break,
// appending its fields to dst. A field may be quoted, with "" for a quote
// inside; a quote in an unquoted field, text after a closing quote and an
// unterminated quoted field are errors. No valid value holds a line break,
// so a record never spans lines.
func SplitCSV(line string, dst []string) ([]string, error) {
	for i := 0; ; {
		if i < len(line) && line[i] == '"' {
			var b strings.Builder
			j := i + 1
			for {
				k := strings.IndexByte(line[j:], '"')
				if k < 0 {
					return dst, fmt.Errorf("field %d: a quoted field is not closed on its line", len(dst)+1)
				}
				b.WriteString(line[j : j+k])
				j += k + 1
				if j < len(line) && line[j] == '"' {
					b.WriteByte('"')
					j++
					continue
				}
				break
			}
			dst = append(dst, b.String())
			switch {
			case j == len(line):
				return dst, nil
			case line[j] != ',':
				return dst, fmt.Errorf("field %d: text after a closing quote", len(dst))
			}
			i = j + 1
			continue
		}
		k := strings.IndexByte(line[i:], ',')
		end := len(line)
		if k >= 0 {
			end = i + k
		}
		v := line[i:end]
		if strings.IndexByte(v, '"') >= 0 {
			return dst, fmt.Errorf("field %d: a quote inside an unquoted field (quote the field, and double the quote)", len(dst)+1)
		}
		dst = append(dst, v)
		if k < 0 {
			return dst, nil
		}
		i = end + 1
	}
}
