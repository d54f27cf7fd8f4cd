package cli

// In-process tests of credential and certificate rotation (reload.go):
// (&Main{...}).Run serves on a loopback port until the test cancels its
// context, and the test swaps files under it the way editors and secret
// mounts do. SECURITY.md §1.5 case 44 (rotation), 17 (an empty or missing
// file fails closed: the old credential stays), 34 (no token in the log).
//
// SIGHUP is sent to the test process itself. That is safe only while some
// signal.Notify registration for SIGHUP exists (otherwise the default
// action kills the process), so the test holds one of its own for the
// whole time, besides the server's.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/appserver-go/appserver/auth"
)

// rlServer is an in-process `appserver serve`.
type rlServer struct {
	addr   string // 127.0.0.1:PORT
	stderr *lockedBuffer
}

// rlStart runs the serve command with args until the test ends. The
// failure limit is off: the tests poll with tokens that are not yet (or no
// longer) valid, and each such poll is a failed authentication.
func rlStart(t *testing.T, args ...string) *rlServer {
	t.Helper()
	args = append(args, "--ws-auth-failure-burst", "0")
	home := t.TempDir()
	var stdout, stderr lockedBuffer
	urlc := make(chan string, 1)
	m := &Main{
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(k string) string {
			if k == "APPSERVER_HOME" {
				return home
			}
			return ""
		},
		ready: func(u string) { urlc <- u },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- m.Run(ctx, args) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Errorf("the server did not stop within 15 s of cancel")
		}
	})
	select {
	case u := <-urlc:
		return &rlServer{addr: strings.TrimPrefix(u, "ws://"), stderr: &stderr}
	case code := <-done:
		t.Fatalf("serve %q exited %d before listening:\n%s", args, code, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("serve %q did not listen within 10 s:\n%s", args, stderr.String())
	}
	return nil
}

// status upgrades with token and returns the status code.
func (s *rlServer) status(t *testing.T, token string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer %s\r\n\r\n", s.addr, token)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitStatus polls until token gets want and returns how long that took.
func (s *rlServer) waitStatus(t *testing.T, token string, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if s.status(t, token) == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("token did not get %d within %v; log:\n%s", want, within, s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLog polls until the log holds n lines containing all of parts.
func (s *rlServer) waitLog(t *testing.T, n int, within time.Duration, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if got := rlCount(s.stderr.String(), parts...); got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d log lines with %q within %v:\n%s", n, parts, within, s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func rlCount(log string, parts ...string) int {
	n := 0
lines:
	for _, l := range strings.Split(log, "\n") {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue lines
			}
		}
		n++
	}
	return n
}

func rlToken(t *testing.T) string {
	t.Helper()
	tok, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rlReplace writes content to a temporary file in path's directory and
// renames it over path, as editors and `appserver token create --force` do.
func rlReplace(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestReloadRenameRotatesToken: replacing the token file by rename rotates
// the credential within about a second, without a signal: the new token
// gets 101 and the old one 401; one rotation is logged once however many
// events the replacement made, and never with a token. Cases 44, 34.
func TestReloadRenameRotatesToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	old, next := rlToken(t), rlToken(t)
	if err := os.WriteFile(file, []byte(old+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := rlStart(t, "--listen", "ws://127.0.0.1:0", "--ws-auth", "capability-token", "--ws-token-file", file)
	if st := s.status(t, old); st != 101 {
		t.Fatalf("old token before the rotation: %d", st)
	}
	rlReplace(t, file, next+"\n")
	if err := os.Chmod(file, 0o600); err != nil { // one more event in the burst
		t.Fatal(err)
	}
	took := s.waitStatus(t, next, 101, 3*time.Second)
	if took > time.Second {
		t.Errorf("the new token was accepted %v after the rename, want within about 1 s", took)
	}
	if st := s.status(t, old); st != 401 {
		t.Errorf("old token after the rotation: %d, want 401", st)
	}
	// The debounce has long passed: exactly one rotation was logged.
	time.Sleep(2 * reloadDebounce)
	if n := rlCount(s.stderr.String(), "credential rotated; new upgrades use it"); n != 1 || rlCount(s.stderr.String(), "file change: token") == 0 {
		t.Errorf("%d rotation log lines for one replacement, want 1:\n%s", n, s.stderr.String())
	}
	log := s.stderr.String()
	if strings.Contains(log, old) || strings.Contains(log, next) {
		t.Errorf("a token reached the log:\n%s", log)
	}
}

// TestReloadFailureKeepsOldCredential: a replacement that fails
// validation (an empty file, a whitespace-only file, a token no client
// could send, a deleted file) leaves the credential in force and logs
// "credential reload failed; keeping the old credential"; the watch goes
// on, so a valid file afterwards still rotates. Cases 17, 44.
func TestReloadFailureKeepsOldCredential(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	cur := rlToken(t)
	if err := os.WriteFile(file, []byte(cur), 0o600); err != nil {
		t.Fatal(err)
	}
	s := rlStart(t, "--listen", "ws://127.0.0.1:0", "--ws-auth", "capability-token", "--ws-token-file", file)
	const failed = "credential reload failed; keeping the old credential"
	steps := []struct {
		name  string
		apply func()
	}{
		{"written empty in place", func() {
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced by a blank file", func() { rlReplace(t, file, " \n\t\n") }},
		{"replaced by a token with a control byte", func() { rlReplace(t, file, "abc\x01defghijklmnopqrstuvwxyz") }},
		{"deleted", func() {
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for i, step := range steps {
		step.apply()
		s.waitLog(t, i+1, 3*time.Second, failed)
		if st := s.status(t, cur); st != 101 {
			t.Fatalf("after the token file was %s: the old token got %d, want 101", step.name, st)
		}
		if st := s.status(t, ""); st == 101 {
			t.Fatalf("after the token file was %s: an empty bearer was accepted", step.name)
		}
	}
	next := rlToken(t)
	rlReplace(t, file, next)
	s.waitStatus(t, next, 101, 3*time.Second)
	if st := s.status(t, cur); st != 401 {
		t.Errorf("old token after a valid rotation: %d", st)
	}
	if log := s.stderr.String(); strings.Contains(log, cur) || strings.Contains(log, next) {
		t.Errorf("a token reached the log:\n%s", log)
	}
}

// TestReloadOnSIGHUP: SIGHUP re-reads the credential at once. The token
// file is a symlink into a directory that is not watched, so changing its
// target makes no file event: nothing changes until the signal. Case 44.
//
// Not parallel: the signal reaches every server in the process, and the
// parallel tests (paused while this runs) count their own reloads.
func TestReloadOnSIGHUP(t *testing.T) {
	// Keep a SIGHUP registration of our own for the whole test, so the
	// signal can never fall back to its default action (exit).
	safety := make(chan os.Signal, 4)
	signal.Notify(safety, syscall.SIGHUP)
	defer signal.Stop(safety)

	watched, hidden := t.TempDir(), t.TempDir()
	target := filepath.Join(hidden, "real-token")
	old, next := rlToken(t), rlToken(t)
	if err := os.WriteFile(target, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(watched, "token")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	s := rlStart(t, "--listen", "ws://127.0.0.1:0", "--ws-auth", "capability-token", "--ws-token-file", link)
	rlReplace(t, target, next)
	time.Sleep(2 * reloadDebounce)
	if st := s.status(t, old); st != 101 {
		t.Fatalf("before SIGHUP the old token got %d: something reloaded without the signal", st)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if took := s.waitStatus(t, next, 101, 3*time.Second); took > 500*time.Millisecond {
		t.Errorf("new token accepted %v after SIGHUP, want at once", took)
	}
	if st := s.status(t, old); st != 401 {
		t.Errorf("old token after SIGHUP: %d", st)
	}
	s.waitLog(t, 1, time.Second, "credential rotated; new upgrades use it", "why=SIGHUP")
}

// rlCert writes a self-signed ECDSA certificate for 127.0.0.1 with serial
// and its key to certFile and keyFile.
func rlCert(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "reload-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Duration(serial) * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCertReload: reload() loads a replaced certificate and key pair, and
// a broken or mismatched pair leaves the previous certificate in force
// with "TLS certificate reload failed; keeping the old certificate".
func TestCertReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	rlCert(t, certFile, keyFile, 1)
	h, err := newCertHolder(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var logBuf lockedBuffer
	r := &reloader{cfg: &serveConfig{}, certs: h, logger: (&Main{Stderr: &logBuf}).newLogger("text", -4)}
	serial := func() int64 {
		c, _ := h.get(nil)
		return c.Leaf.SerialNumber.Int64()
	}
	if serial() != 1 {
		t.Fatalf("serial %d", serial())
	}
	rlCert(t, certFile, keyFile, 2)
	r.reload("test")
	if serial() != 2 || h.notAfter().Before(time.Now().Add(90*time.Minute)) {
		t.Fatalf("after reload: serial %d, notAfter %v", serial(), h.notAfter())
	}
	if !strings.Contains(logBuf.String(), "TLS certificate reloaded") {
		t.Errorf("log:\n%s", logBuf.String())
	}

	// A key that does not match the certificate.
	otherDir := t.TempDir()
	rlCert(t, filepath.Join(otherDir, "c"), filepath.Join(otherDir, "k"), 3)
	k3, _ := os.ReadFile(filepath.Join(otherDir, "k"))
	if err := os.WriteFile(keyFile, k3, 0o600); err != nil {
		t.Fatal(err)
	}
	r.reload("test")
	if serial() != 2 {
		t.Errorf("mismatched pair: serial %d, want the old 2", serial())
	}
	// Garbage, then a missing file.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.reload("test")
	os.Remove(certFile)
	r.reload("test")
	if serial() != 2 {
		t.Errorf("broken files: serial %d, want the old 2", serial())
	}
	if n := strings.Count(logBuf.String(), "TLS certificate reload failed; keeping the old certificate"); n != 3 {
		t.Errorf("%d failure lines, want 3:\n%s", n, logBuf.String())
	}
	// newCertHolder itself fails on a broken pair.
	if _, err := newCertHolder(certFile, keyFile); err == nil {
		t.Error("newCertHolder accepted a missing certificate")
	}
}
