package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A prefix pasted from "key list", ellipsis included, revokes the key.
func TestKeyRevokeTakesThePrefixAsKeyListPrintsIt(t *testing.T) {
	for _, tc := range []struct{ name, suffix string }{
		{"as printed, with an ellipsis", "…"},
		{"typed with three dots", "..."},
		{"bare prefix", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"CUSTOMERD_DB": "sqlite:" + filepath.Join(t.TempDir(), "c.db")}
			if _, _, err := cli(t, env, "merchant", "create", "acme"); err != nil {
				t.Fatal(err)
			}
			list := func() string {
				t.Helper()
				out, _, err := cli(t, env, "key", "list", "acme")
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			row := strings.Fields(strings.Split(strings.TrimSpace(list()), "\n")[1]) // PREFIX… CREATED REVOKED
			prefix := strings.TrimSuffix(row[0], "…")
			_, stderr, err := cli(t, env, "key", "revoke", prefix+tc.suffix)
			if err != nil {
				t.Fatalf("key revoke %q: %v %s", prefix+tc.suffix, err, stderr)
			}
			// The promise README and SECURITY.md make, in the same words.
			if want := "revoked key " + prefix + "…: refused within 5 s; in practice about 2 s\n"; stderr != want {
				t.Errorf("key revoke printed %q, want %q", stderr, want)
			}
			row = strings.Fields(strings.Split(strings.TrimSpace(list()), "\n")[1])
			if row[2] == "-" {
				t.Fatalf("key %s not revoked:\n%s", prefix, list())
			}
		})
	}
}

// master-key generate --out never replaces a file, and says so as cert
// create does, without the temporary file's name.
func TestMasterKeyGenerateOutOntoAnExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if _, _, err := cli(t, nil, "master-key", "generate", "--out", path); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = cli(t, nil, "master-key", "generate", "--out", path)
	if want := path + " already exists; remove it first or choose another --out"; err == nil || err.Error() != want {
		t.Fatalf("second generate --out: %v, want %q", err, want)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the existing key file was changed")
	}
}

// A mistyped flag, command or subcommand is reported alone, last on the
// screen, with the closest name and where the usage is, not followed by the
// usage, which would scroll it away.
func TestTyposAreReportedAloneWithTheClosestName(t *testing.T) {
	db := filepath.Join(t.TempDir(), "c.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--lisen", "127.0.0.1:8080"},
			"customerd serve: unknown flag --lisen; did you mean --listen?\nsee \"customerd serve --help\"\n"},
		{[]string{"healthcheck", "--tls-crt", "tls/customerd.crt"},
			"customerd healthcheck: unknown flag --tls-crt; did you mean --tls-cert?\nsee \"customerd healthcheck --help\"\n"},
		{[]string{"serve", "--nonsense"},
			"customerd serve: unknown flag --nonsense\nsee \"customerd serve --help\"\n"},
		{[]string{"serve", "--db-max-conns", "many"},
			"customerd serve: invalid value \"many\" for flag --db-max-conns: parse error\nsee \"customerd serve --help\"\n"},
		{[]string{"serve", "listen"},
			"customerd serve: unexpected argument \"listen\"\nsee \"customerd serve --help\"\n"},
		{[]string{"serv"},
			"customerd: unknown command \"serv\"; did you mean \"serve\"?\nsee \"customerd --help\"\n"},
		{[]string{"healthchek"},
			"customerd: unknown command \"healthchek\"; did you mean \"healthcheck\"?\nsee \"customerd --help\"\n"},
		{[]string{"frobnicate"},
			"customerd: unknown command \"frobnicate\"\nsee \"customerd --help\"\n"},
		{[]string{"key", "lst", "acme", "--db", "sqlite:" + db},
			"customerd key: unknown subcommand \"lst\"; did you mean \"list\"?\nsee \"customerd key --help\"\n"},
		{[]string{"merchant", "craete", "acme", "--db", "sqlite:" + db},
			"customerd merchant: unknown subcommand \"craete\"; did you mean \"create\"?\nsee \"customerd merchant --help\"\n"},
		{[]string{"master-key", "genrate"},
			"customerd master-key: unknown subcommand \"genrate\"; did you mean \"generate\"?\nsee \"customerd master-key --help\"\n"},
		{[]string{"cert", "delete"},
			"customerd cert: unknown subcommand \"delete\"\nsee \"customerd cert --help\"\n"},
	} {
		t.Run(strings.Join(tc.args[:min(2, len(tc.args))], " "), func(t *testing.T) {
			stdout, stderr, err := cli(t, nil, tc.args...)
			if err != errUsage || stdout != "" || stderr != tc.want {
				t.Errorf("customerd %s: %v, stdout %q, stderr\n%s\nwant errUsage and stderr\n%s", strings.Join(tc.args, " "), err, stdout, stderr, tc.want)
			}
		})
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("a mistyped subcommand created the database: %v", err)
	}
}

// healthcheck against a TLS server: it says when HTTPS is needed, and an
// https --url is verified, trusting --tls-cert, unless told not to.
func TestHealthcheckOverTLS(t *testing.T) {
	dir := t.TempDir()
	tlsCertCreate(t, filepath.Join(dir, "tls"), "--host", "127.0.0.1")
	tlsCertCreate(t, filepath.Join(dir, "other"), "--host", "127.0.0.1")
	cert, key := filepath.Join(dir, "tls", "customerd.crt"), filepath.Join(dir, "tls", "customerd.key")
	other := filepath.Join(dir, "other", "customerd.crt")
	s := startServer(t, "sqlite:"+filepath.Join(dir, "c.db"), "--tls-cert", cert, "--tls-key", key)
	defer s.stop()
	https := "https://" + s.addr + "/healthz"
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string // "" for success
	}{
		{"next to the server, without --tls-cert: says HTTPS is needed", map[string]string{"CUSTOMERD_LISTEN": s.addr}, nil,
			"the server speaks HTTPS: pass --tls-cert"},
		{"next to the server, with its --tls-cert", map[string]string{"CUSTOMERD_LISTEN": s.addr, "CUSTOMERD_TLS_CERT": cert}, nil, ""},
		{"an http --url on the TLS port: says HTTPS is needed", nil, []string{"--url", "http://" + s.addr + "/healthz"},
			"the server speaks HTTPS: use an https:// URL"},
		{"an https --url, certificate not trusted: refused", nil, []string{"--url", https},
			"certificate signed by unknown authority; pass --tls-cert with the certificate to trust, or --insecure-skip-verify"},
		{"an https --url, trusting the server's certificate", nil, []string{"--url", https, "--tls-cert", cert}, ""},
		{"an https --url, trusting another certificate: refused", nil, []string{"--url", https, "--tls-cert", other},
			"pass --tls-cert with the certificate to trust"},
		{"an https --url with a name the certificate is not for: refused", nil,
			[]string{"--url", strings.Replace(https, "127.0.0.1", "localhost", 1), "--tls-cert", cert},
			"; use a URL with a name the certificate is for, or --insecure-skip-verify"},
		{"an https --url with --insecure-skip-verify", nil, []string{"--url", https, "--insecure-skip-verify"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := cli(t, tc.env, append([]string{"healthcheck"}, tc.args...)...)
			switch {
			case tc.wantErr == "" && (err != nil || out != "ok\n"):
				t.Errorf("healthcheck %v: %q, %v; want ok", tc.args, out, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("healthcheck %v: %v; want an error containing %q", tc.args, err, tc.wantErr)
			}
		})
	}
}
