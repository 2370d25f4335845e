package main

import (
	"encoding/base64"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultLimitsMeet300BadKeysWith429(t *testing.T) {
	s := startServer(t, "sqlite:"+filepath.Join(t.TempDir(), "c.db"))
	defer s.stop()
	bad := "Basic " + base64.StdEncoding.EncodeToString([]byte("cdk_0123456789abcdef0123456789abcdef01234567:"))
	counts := map[int]int{}
	start := time.Now()
	for i := 0; i < 300; i++ {
		req, _ := http.NewRequest("GET", "http://"+s.addr+"/customers/x", nil)
		req.Header.Set("Authorization", bad)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		counts[res.StatusCode]++
		if res.StatusCode == 429 && res.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	// Default: 60 failures in any minute; the run takes far less.
	if time.Since(start) < time.Minute && (counts[401] != 60 || counts[429] != 240) {
		t.Fatalf("300 bad keys got %v, want 60 × 401, then 429", counts)
	}
}

func TestLimitFlagErrors(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "c.db")
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--rate-limit", "-1"}, nil, "--rate-limit"},
		{[]string{"--rate-limit", "fast"}, nil, "--rate-limit"},
		{[]string{"--rate-limit", "5", "--rate-burst", "0"}, nil, "--rate-burst"},
		{[]string{"--auth-fail-limit", "-3"}, nil, "--auth-fail-limit"},
		{[]string{"--auth-fail-window", "0s"}, nil, "--auth-fail-window"},
		{nil, map[string]string{"CUSTOMERD_TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"}, "proxy.internal"},
	} {
		env := map[string]string{"CUSTOMERD_DB": db, "CUSTOMERD_LISTEN": "127.0.0.1:0"}
		for k, v := range tc.env {
			env[k] = v
		}
		_, _, err := cli(t, env, append([]string{"serve"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %v %v: err %v, want one naming %s", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := parsePrefixes(" 10.1.2.3/8 ,192.0.2.7, fd00::/8,::ffff:198.51.100.1,")
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, p := range got {
		s = append(s, p.String())
	}
	if strings.Join(s, " ") != "10.0.0.0/8 192.0.2.7/32 fd00::/8 198.51.100.1/32" {
		t.Fatalf("parsed %v", s)
	}
	if got, err := parsePrefixes(""); err != nil || len(got) != 0 {
		t.Fatalf("empty list: %v %v", got, err)
	}
}
