package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"customerd/tlsconfig"
)

// Names of the files "cert create" writes. The key's extension is ignored by
// the repository's .gitignore, so a development key is not committed by
// accident.
const (
	devCertFile = "customerd.crt"
	devKeyFile  = "customerd.key"
	devCertLife = 365 * 24 * time.Hour
)

// runCert implements "customerd cert create".
func runCert(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cert", "cert create [--host localhost,127.0.0.1] [--out DIR]", getenv, stdout, stderr)
	hosts := fs.String("host", "localhost,127.0.0.1", "comma-separated host names and IP addresses the certificate is valid for")
	out := fs.String("out", ".", "directory to write "+devCertFile+" and "+devKeyFile+" to")
	pos, err := fs.parse(args)
	if err != nil {
		return usageError(err)
	}
	if len(pos) != 1 || pos[0] != "create" {
		fs.Usage()
		return errUsage
	}
	certPEM, keyPEM, err := tlsconfig.SelfSigned(strings.Split(*hosts, ","), time.Now(), devCertLife)
	if err != nil {
		return fmt.Errorf("--host %q: %w", *hosts, err)
	}
	dir, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	certPath, keyPath := filepath.Join(dir, devCertFile), filepath.Join(dir, devKeyFile)
	// A key is never overwritten: it may be the one a server is using.
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s already exists; remove it first or choose another --out", p)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, `Wrote a self-signed development certificate for %s, valid for a year:
  certificate  %s
  private key  %s (mode 0600)

Serve HTTPS with it:
  customerd serve --listen 127.0.0.1:8443 --tls-cert %s --tls-key %s

Clients must trust this certificate; it is for development only.
  Node (Juspay's SDK):
    export NODE_EXTRA_CA_CERTS=%s
  curl:
    curl --cacert %s https://127.0.0.1:8443/healthz
  Debian/Ubuntu system store:
    sudo cp %s /usr/local/share/ca-certificates/customerd-dev.crt && sudo update-ca-certificates
  macOS keychain:
    sudo security add-trusted-cert -d -r trustAsRoot -k /Library/Keychains/System.keychain %s
`, strings.Join(nonEmpty(strings.Split(*hosts, ",")), ", "), certPath, keyPath,
		shellQuote(certPath), shellQuote(keyPath), shellQuote(certPath), shellQuote(certPath),
		shellQuote(certPath), shellQuote(certPath))
	return nil
}

// writeFileAtomic writes data to a temporary file beside path and renames it
// over path, so a reader never sees a half-written file. The mode is set
// before any data is written.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// shellQuote quotes a path for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
