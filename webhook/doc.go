// Package webhook signs, checks and delivers customerd's webhooks.
//
// It is a leaf: it imports no other customerd package, so that a receiver
// written in Go can use [Verify] alone. The server uses the rest: [NewSecret]
// for a new endpoint, [CheckURL] when an endpoint's url is set, and a
// [Sender] with [Backoff] for each delivery attempt. Storage, queueing and
// the HTTP routes of webhook endpoints live elsewhere.
//
// Signatures follow Stripe's scheme (see [Sign]); docs/webhooks.md is the
// reference for receivers.
package webhook
