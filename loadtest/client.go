package loadtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"time"
)

// conn is one keep-alive HTTP/1.1 connection. It speaks just enough HTTP to
// send a prepared request and skip over the response: the generator shares
// the machine with the server, so every cycle it spends is one the server
// does not get, and net/http's client costs several times more per request.
type conn struct {
	addr string
	nc   net.Conn
	br   *bufio.Reader
}

func (c *conn) close() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

// roundTrip sends req (a complete HTTP/1.1 request) and returns the response
// status. The body is read and discarded. On any error the connection is
// closed and the next call dials again.
func (c *conn) roundTrip(req []byte) (int, error) {
	return c.roundTripBody(req, nil)
}

// roundTripBody is roundTrip that, when body is not nil, reads the
// response's body into *body (its old contents replaced) instead of
// discarding it.
func (c *conn) roundTripBody(req []byte, body *[]byte) (int, error) {
	if c.nc == nil {
		nc, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return 0, err
		}
		c.nc = nc
		if c.br == nil {
			c.br = bufio.NewReaderSize(nc, 8<<10)
		} else {
			c.br.Reset(nc)
		}
	}
	status, keep, err := c.exchange(req, body)
	if err != nil || !keep {
		c.close()
	}
	return status, err
}

func (c *conn) exchange(req []byte, body *[]byte) (status int, keepAlive bool, err error) {
	_ = c.nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.nc.Write(req); err != nil {
		return 0, false, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	keepAlive = true
	length, chunked := -1, false
	for {
		line, err = c.br.ReadSlice('\n')
		if err != nil {
			return status, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "content-length"):
			length, err = strconv.Atoi(string(value))
			if err != nil {
				return status, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case asciiEqualFold(name, "transfer-encoding"):
			chunked = asciiEqualFold(value, "chunked")
		case asciiEqualFold(name, "connection"):
			keepAlive = !asciiEqualFold(value, "close")
		}
	}
	if body != nil {
		*body = (*body)[:0]
	}
	switch {
	case chunked:
		err = c.skipChunked(body)
	case length >= 0 && body != nil:
		*body = slices.Grow(*body, length)[:length]
		_, err = io.ReadFull(c.br, *body)
	case length >= 0:
		_, err = c.br.Discard(length)
	default:
		return status, false, errors.New("response without a length on a keep-alive connection")
	}
	return status, keepAlive && err == nil, err
}

// skipChunked reads a chunked body, appending it to *body when body is not
// nil and discarding it otherwise.
func (c *conn) skipChunked(body *[]byte) error {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(size), 16, 64)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", size)
		}
		if n == 0 {
			for { // trailers, up to the empty line
				line, err := c.br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if body != nil {
			start := len(*body)
			*body = slices.Grow(*body, int(n))[:start+int(n)]
			if _, err := io.ReadFull(c.br, (*body)[start:]); err != nil {
				return err
			}
			n = 0
		}
		if _, err := c.br.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
