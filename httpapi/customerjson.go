package httpapi

import "customerd"

// AppendCustomer appends the JSON of c exactly as GET /customers/{id}
// answers it (without a client auth token): what an export writes, one
// customer per line.
func AppendCustomer(b []byte, c *customerd.Customer) []byte { return appendCustomer(b, c, nil) }
