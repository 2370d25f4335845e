package transfer

import (
	"strconv"
	"strings"
	"time"

	"customerd"
)

// CSVHeader is the header line export writes, Columns in order.
var CSVHeader = strings.Join(Columns, ",") + "\n"

// AppendCSV appends c as one CSV line in the order of Columns: an unset
// optional field is an empty cell, timestamps are in the contract's layout.
func AppendCSV(b []byte, c *customerd.Customer) []byte {
	b = AppendCSVField(b, c.ID)
	b = append(b, ',')
	b = AppendCSVField(b, c.ObjectReferenceID)
	b = append(b, ',')
	b = AppendCSVField(b, c.MobileNumber)
	b = append(b, ',')
	b = appendTime(b, c.DateCreated)
	b = append(b, ',')
	b = appendTime(b, c.LastUpdated)
	b = append(b, ',')
	b = AppendCSVField(b, c.EmailAddress)
	b = append(b, ',')
	b = AppendCSVField(b, c.FirstName)
	b = append(b, ',')
	b = AppendCSVField(b, c.LastName)
	b = append(b, ',')
	b = AppendCSVField(b, c.MobileCountryCode)
	return append(b, '\n')
}

func appendTime(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, customerd.TimestampLayout)
}

// AppendCSVField appends one CSV field, quoted when it holds a comma, a
// quote or a line break.
func AppendCSVField(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// RejectsHeader is the header line of a rejects file.
const RejectsHeader = "line,field,reason\n"

// AppendReject appends one line of a rejects file: the line number of the
// import file, the field at fault ("" for the whole line) and why.
func AppendReject(b []byte, line int, field, reason string) []byte {
	b = strconv.AppendInt(b, int64(line), 10)
	b = append(b, ',')
	b = AppendCSVField(b, field)
	b = append(b, ',')
	b = AppendCSVField(b, reason)
	return append(b, '\n')
}
