// Package loadtest is customerd's load harness: it seeds a store with
// synthetic customers, drives a running server over keep-alive HTTP/1.1
// connections, and summarizes throughput, latency and errors. The command
// cmd/customerd-load is its front end; bench/run.sh strings the steps into
// the recorded table of BENCHMARKS.md.
package loadtest

import (
	"strconv"
	"time"

	"customerd"
)

// Synthetic customers are a pure function of their index, so the seeder and
// the load generator agree on ids and references without sharing state.

// splitmix64's finalizer is a bijection on uint64: distinct indexes give
// distinct ids, spread over the key space like the random ids of real
// customers (so the primary-key B-tree is not filled in order).
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// CustomerID returns the id of synthetic customer i: "cst_ld" followed by 14
// characters of [a-z0-9], the same shape as a generated id.
func CustomerID(i int) string {
	var b [20]byte
	copy(b[:], "cst_ld")
	v := mix(uint64(i))
	for j := 19; j >= 6; j-- { // 36^14 > 2^64: every bit is kept
		b[j] = idAlphabet[v%36]
		v /= 36
	}
	return string(b[:])
}

// Reference returns the object_reference_id of synthetic customer i.
func Reference(i int) string { return "load-" + strconv.Itoa(i) }

// Email returns the email_address of synthetic customer i.
func Email(i int) string { return "load" + strconv.Itoa(i) + "@example.com" }

// Mobile returns the mobile_number of synthetic customer i. Two customers
// of a million share one now and then (ten digits from a hash).
func Mobile(i int) string { return mobile(uint64(i)) }

// Customer returns synthetic customer i of merchantID, created at now.
func Customer(merchantID string, i int, now time.Time) *customerd.Customer {
	n := strconv.Itoa(i)
	t := customerd.Timestamp(now)
	return &customerd.Customer{
		ID:                CustomerID(i),
		MerchantID:        merchantID,
		ObjectReferenceID: Reference(i),
		MobileNumber:      Mobile(i),
		MobileCountryCode: customerd.DefaultMobileCountryCode,
		EmailAddress:      Email(i),
		FirstName:         "Load",
		LastName:          "Customer" + n,
		DateCreated:       t,
		LastUpdated:       t,
	}
}

// mobile returns a 10-digit mobile number derived from x.
func mobile(x uint64) string {
	var b [10]byte
	b[0] = '9'
	v := mix(x)
	for j := 9; j >= 1; j-- {
		b[j] = byte('0' + v%10)
		v /= 10
	}
	return string(b[:])
}
