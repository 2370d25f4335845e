package loadtest

import (
	"io"
	"net/http"
)

// ceilingBody is a customer as customerd returns it, byte for byte the shape
// and size of a real response.
const ceilingBody = `{"id":"cst_ld0123456789abcd","object":"customer","object_reference_id":"load-123456",` +
	`"mobile_number":"9876543210","date_created":"2026-11-26T12:00:00+0000","last_updated":"2026-11-26T12:00:00+0000",` +
	`"email_address":"load123456@example.com","first_name":"Load","last_name":"Customer123456","mobile_country_code":"91"}`

// CeilingHandler returns the reference server of the benchmarks: the least a
// net/http handler can do to answer a customer request (drain the body, write
// a fixed customer JSON). customerd's throughput is quoted as a fraction of
// this one's, measured on the same machine in the same run.
func CeilingHandler() http.Handler {
	body := []byte(ceilingBody)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header()["Content-Type"] = []string{"application/json"}
		_, _ = w.Write(body)
	})
}
