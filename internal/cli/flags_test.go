package cli

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// testFlags is a flag set with one flag of each kind, recording what it
// was given.
type testFlags struct {
	fs      *flagSet
	name    string
	nameSet bool
	list    []string
	on      int
	num     string
}

func newTestFlags() *testFlags {
	tf := &testFlags{}
	tf.fs = newFlagSet("appserver test", "[OPTIONS] ARGS", "About the test command.")
	tf.fs.value("name", "<NAME>", "A name", func(v string) error { tf.name, tf.nameSet = v, true; return nil })
	tf.fs.repeated("item", "<ITEM>", "An item; may repeat", func(v string) error { tf.list = append(tf.list, v); return nil })
	tf.fs.switchFlag("verbose", "Say more\nover two lines", func() { tf.on++ })
	tf.fs.value("num", "<N>", "A number", func(v string) error {
		if strings.Trim(v, "0123456789") != "" || v == "" {
			return errors.New("invalid digit found in string")
		}
		tf.num = v
		return nil
	})
	tf.fs.stringVar(new(string), "out", "<PATH>", "Where")
	// A short alias, which the serve flags do not use but the parser
	// supports.
	tf.fs.lookup("name").short = 'n'
	tf.fs.lookup("verbose").short = 'v'
	return tf
}

func TestFlagParse(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args    []string
		name    string
		nameSet bool
		list    []string
		on      int
		num     string
		pos     []string
		rest    []string
		help    bool
		err     string
	}{
		{args: nil},
		{args: []string{"--name", "a"}, name: "a", nameSet: true},
		{args: []string{"--name=a"}, name: "a", nameSet: true},
		{args: []string{"--name="}, name: "", nameSet: true},
		{args: []string{"--name=a=b"}, name: "a=b", nameSet: true},
		{args: []string{"--name=--verbose"}, name: "--verbose", nameSet: true},
		{args: []string{"--name", "-"}, name: "-", nameSet: true},
		{args: []string{"--name", ""}, name: "", nameSet: true},
		{args: []string{"-n", "a"}, name: "a", nameSet: true},
		{args: []string{"-na"}, name: "a", nameSet: true},
		{args: []string{"-n=a"}, name: "a", nameSet: true},
		{args: []string{"-name", "a"}, name: "ame", nameSet: true, pos: []string{"a"}}, // clap reads -name as -n ame
		{args: []string{"-v"}, on: 1},
		{args: []string{"--item", "x", "--item=y", "--item", "z"}, list: []string{"x", "y", "z"}},
		{args: []string{"--verbose", "p1", "--num", "5", "p2"}, on: 1, num: "5", pos: []string{"p1", "p2"}},
		{args: []string{"--name", "a", "--", "--name", "b", "-v"}, name: "a", nameSet: true, rest: []string{"--name", "b", "-v"}},
		{args: []string{"--"}, rest: []string{}},
		{args: []string{"p", "--", "q"}, pos: []string{"p"}, rest: []string{"q"}},
		{args: []string{"--help", "--bogus"}, help: true},
		{args: []string{"--name", "a", "-h"}, name: "a", nameSet: true, help: true},
		{args: []string{"--", "--help"}, rest: []string{"--help"}},

		{args: []string{"--name", "a", "--name", "b"}, err: "error: the argument '--name <NAME>' cannot be used multiple times"},
		{args: []string{"--name=a", "--name=a"}, err: "error: the argument '--name <NAME>' cannot be used multiple times"},
		{args: []string{"--verbose", "--verbose"}, err: "error: the argument '--verbose' cannot be used multiple times"},
		{args: []string{"--verbose=true"}, err: "error: unexpected value 'true' for '--verbose' found; no more were expected"},
		{args: []string{"--verbose="}, err: "error: unexpected value '' for '--verbose' found; no more were expected"},
		{args: []string{"--bogus"}, err: "error: unexpected argument '--bogus' found"},
		{args: []string{"--bogus=1"}, err: "error: unexpected argument '--bogus=1' found"},
		{args: []string{"--Name", "a"}, err: "error: unexpected argument '--Name' found"},
		{args: []string{"-x"}, err: "error: unexpected argument '-x' found"},
		{args: []string{"-vv"}, err: "error: unexpected argument '-vv' found"},
		{args: []string{"--name"}, err: "error: a value is required for '--name <NAME>' but none was supplied"},
		{args: []string{"--name", "--verbose"}, err: "error: a value is required for '--name <NAME>' but none was supplied"},
		{args: []string{"--name", "--"}, err: "error: a value is required for '--name <NAME>' but none was supplied"},
		{args: []string{"--num", "-5"}, err: "error: unexpected argument '-5' found"},
		{args: []string{"--num", "abc"}, err: "error: invalid value 'abc' for '--num <N>': invalid digit found in string"},
		{args: []string{"--num=-5"}, err: "error: invalid value '-5' for '--num <N>': invalid digit found in string"},
		{args: []string{"-n"}, err: "error: a value is required for '-n <NAME>' but none was supplied"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			tf := newTestFlags()
			err := tf.fs.parse(tt.args)
			if tt.err != "" {
				var ue *usageError
				if !errors.As(err, &ue) || ue.msg != tt.err {
					t.Fatalf("err %v, want usage error %q", err, tt.err)
				}
				if ue.usage != "Usage: appserver test [OPTIONS] ARGS\n\nFor more information, try '--help'." {
					t.Errorf("usage %q", ue.usage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tf.name != tt.name || tf.nameSet != tt.nameSet || !reflect.DeepEqual(tf.list, tt.list) || tf.on != tt.on || tf.num != tt.num {
				t.Errorf("got name %q (%v) list %q on %d num %q", tf.name, tf.nameSet, tf.list, tf.on, tf.num)
			}
			if !reflect.DeepEqual(tf.fs.args, tt.pos) || !reflect.DeepEqual(tf.fs.rest, tt.rest) || tf.fs.help != tt.help {
				t.Errorf("got args %q rest %q help %v", tf.fs.args, tf.fs.rest, tf.fs.help)
			}
		})
	}
}

func TestFlagHelpText(t *testing.T) {
	t.Parallel()
	h := newTestFlags().fs.helpText()
	for _, want := range []string{
		"About the test command.\n\nUsage: appserver test [OPTIONS] ARGS\n\nOptions:\n",
		"  -n, --name <NAME>\n          A name\n",
		"      --item <ITEM>\n",
		"  -v, --verbose\n          Say more\n          over two lines\n",
		"  -h, --help\n          Print help\n",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("help lacks %q:\n%s", want, h)
		}
	}
}

// TestServeFlagsThroughRun runs the real serve flags through Main.Run.
func TestServeFlagsThroughRun(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	for _, tt := range []struct {
		args       []string
		code       int
		stdout     string // substring
		stderrHead string // prefix
	}{
		{[]string{"--help"}, 0, "--ws-auth <MODE>", ""},
		{[]string{"serve", "-h"}, 0, "--ws-max-clock-skew-seconds <SECONDS>", ""},
		{[]string{"app-server", "--listen=ws://127.0.0.1:0"}, 0, "", "appserver (WebSockets)\n  listening on: ws://127.0.0.1:"},
		{[]string{"--listen", "ws://127.0.0.1:0", "--help"}, 0, "Usage: appserver [OPTIONS]", ""},
		{[]string{"--listen", "ws://127.0.0.1:0", "--", "x"}, 2, "", "error: unexpected argument 'x' found\n\nUsage: appserver [OPTIONS]"},
		{[]string{"--listen", "ws://127.0.0.1:0", "--listen", "ws://127.0.0.1:0"}, 2, "", "error: the argument '--listen <URL>' cannot be used multiple times"},
		{[]string{"--stdio=yes"}, 2, "", "error: unexpected value 'yes' for '--stdio' found; no more were expected"},
		{[]string{"--ws-auth", "none"}, 2, "", "error: invalid value 'none' for '--ws-auth <MODE>': possible values: capability-token, signed-bearer-token"},
		{[]string{"--log-format", "xml"}, 2, "", "error: invalid value 'xml' for '--log-format <FORMAT>': expected text or json"},
		{[]string{"--ws-max-clock-skew-seconds", "99999999999999999999"}, 2, "", "error: invalid value '99999999999999999999' for '--ws-max-clock-skew-seconds <SECONDS>': number too large to fit in target type"},
		{[]string{"--ws-max-clock-skew-seconds", "0x10"}, 2, "", "error: invalid value '0x10' for '--ws-max-clock-skew-seconds <SECONDS>': invalid digit found in string"},
		{[]string{"nope"}, 2, "", "error: unrecognized subcommand 'nope'"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			r := runMain(home, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stdout, tt.stdout) || !strings.HasPrefix(r.stderr, tt.stderrHead) {
				t.Errorf("exit %d\nstdout %q\nstderr %q\nwant exit %d, stdout containing %q, stderr starting %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderrHead)
			}
		})
	}
}
