package main

import (
	"net"
	"os"
	"reflect"
	"strconv"
	"testing"
)

func TestParseBanner(t *testing.T) {
	tests := []struct {
		line string
		want string
		ok   bool
	}{
		{"  listening on: ws://127.0.0.1:4811", "127.0.0.1:4811", true},
		{"  listening on: ws://127.0.0.1:4811/", "127.0.0.1:4811", true},
		{"listening on:ws://[::1]:9000", "[::1]:9000", true},
		{"\x1b[2m  listening on: ws://0.0.0.0:1234  ", "0.0.0.0:1234", true},
		{"codex app-server (WebSockets)", "", false},
		{"  readyz: http://127.0.0.1:4811/readyz", "", false},
		{"  listening on: ws://127.0.0.1", "", false},
		{"  listening on: ws://127.0.0.1:0x10", "", false},
		{"  listening on: ws://127.0.0.1:70000", "", false},
		{"  listening on: ws://:80", "", false},
		{"  listening on: stdio://", "", false},
	}
	for _, tc := range tests {
		got, ok := parseBanner(tc.line)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseBanner(%q) = %q, %v; want %q, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestExpandArgv(t *testing.T) {
	got, err := expandArgv("  ./appserver --listen ws://127.0.0.1:0  --ws-token-file {token_file} --state={home}/s {home}{token_file} ", "/t/tok", "/h")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"./appserver", "--listen", "ws://127.0.0.1:0", "--ws-token-file", "/t/tok", "--state=/h/s", "/h/t/tok"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("expandArgv = %q, want %q", got, want)
	}
	if _, err := expandArgv("   ", "a", "b"); err == nil {
		t.Error("empty command accepted")
	}
	// A token path with a placeholder-like name is not expanded twice.
	got, _ = expandArgv("x {token_file}", "/t/{home}", "/h")
	if got[1] != "/t/{home}" {
		t.Errorf("double expansion: %q", got[1])
	}
}

func TestEnvWith(t *testing.T) {
	got := envWith([]string{"A=1", "CODEX_HOME=/old", "CODEX_HOMEX=keep", "B=2"}, "CODEX_HOME", "/new", "APPSERVER_HOME", "/new")
	want := []string{"A=1", "CODEX_HOMEX=keep", "B=2", "CODEX_HOME=/new", "APPSERVER_HOME=/new"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("envWith = %q, want %q", got, want)
	}
}

func TestShellQuote(t *testing.T) {
	got := shellQuote([]string{"bench", "--server", "a=./x --y {token_file}", "it's", ""})
	want := `bench --server 'a=./x --y {token_file}' 'it'\''s' ''`
	if got != want {
		t.Errorf("shellQuote = %s, want %s", got, want)
	}
}

func TestCommandLine(t *testing.T) {
	if got := commandLine([]string{"/tmp/go-build123/b001/exe/appserver-bench", "--rounds", "1"}); got != "go run ./cmd/appserver-bench --rounds 1" {
		t.Errorf("go run: %s", got)
	}
	if got := commandLine([]string{"./appserver-bench", "--json", "a b"}); got != "./appserver-bench --json 'a b'" {
		t.Errorf("binary: %s", got)
	}
}

func TestWrongToken(t *testing.T) {
	for _, tok := range []string{"a", "abc", "0123456789abcdef0123456789abcdef"} {
		w := wrongToken(tok)
		if len(w) != len(tok) || w == tok {
			t.Errorf("wrongToken(%q) = %q", tok, w)
		}
	}
}

func TestProcHelpers(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	kib, err := rssKiB(os.Getpid())
	if err != nil || kib <= 0 {
		t.Errorf("rssKiB(self) = %v, %v", kib, err)
	}
	if _, ok := cpuSeconds(os.Getpid()); !ok {
		t.Error("cpuSeconds(self) failed")
	}
	if m, ok := readMachineCPU(); !ok || m.Total <= 0 {
		t.Error("readMachineCPU failed")
	}
	// The listener finder locates our own listening socket.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	pgid, _, err := procStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got := findListener(pgid, strconv.Itoa(port)); got != os.Getpid() {
		t.Errorf("findListener(pgid %d, %d) = %d, want %d", pgid, port, got, os.Getpid())
	}
	if got := findListener(pgid, "1"); got != 0 {
		t.Errorf("findListener(port 1) = %d, want 0", got)
	}
}
