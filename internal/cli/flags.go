package cli

import (
	"fmt"
	"strings"
)

// usageError is a command-line mistake: exit status 2, reported in the
// style of the reference's argument parser ("error: ...").
type usageError struct {
	msg   string
	usage string
}

func (e *usageError) Error() string { return e.msg }

// flag is one command-line option.
type flag struct {
	name       string // long name without dashes
	short      byte   // optional one-letter alias
	valueName  string // "<URL>"; empty for a boolean switch
	help       string
	repeatable bool
	set        func(value string) error // parse and store; nil for switches
	on         func()                   // for switches
}

// flagSet parses options in the GNU style the reference's clap parser uses:
// --name VALUE, --name=VALUE, -s VALUE, switches without values, "--" ends
// options. Unlike Go's flag package, single-dash long names are not flags,
// and errors read like clap's so scripts and people see familiar text.
type flagSet struct {
	cmd   string // "appserver", "appserver rpc"
	usage string // "[OPTIONS]", "[OPTIONS] URL METHOD [PARAMS]"
	about string
	flags []*flag
	seen  map[*flag]bool

	args []string // positional arguments
	rest []string // after "--"
	help bool
}

func newFlagSet(cmd, usage, about string) *flagSet {
	return &flagSet{cmd: cmd, usage: usage, about: about, seen: map[*flag]bool{}}
}

func (fs *flagSet) value(name, valueName, help string, set func(string) error) {
	fs.flags = append(fs.flags, &flag{name: name, valueName: valueName, help: help, set: set})
}

func (fs *flagSet) repeated(name, valueName, help string, set func(string) error) {
	fs.flags = append(fs.flags, &flag{name: name, valueName: valueName, help: help, set: set, repeatable: true})
}

func (fs *flagSet) repeatedShort(name string, short byte, valueName, help string, set func(string) error) {
	fs.flags = append(fs.flags, &flag{name: name, short: short, valueName: valueName, help: help, set: set, repeatable: true})
}

func (fs *flagSet) switchFlag(name, help string, on func()) {
	fs.flags = append(fs.flags, &flag{name: name, help: help, on: on})
}

func (fs *flagSet) stringVar(p *string, name, valueName, help string) {
	fs.value(name, valueName, help, func(v string) error { *p = v; return nil })
}

func (fs *flagSet) lookup(name string) *flag {
	for _, f := range fs.flags {
		if f.name == name {
			return f
		}
	}
	return nil
}

func (fs *flagSet) lookupShort(c byte) *flag {
	for _, f := range fs.flags {
		if f.short == c && c != 0 {
			return f
		}
	}
	return nil
}

func (fs *flagSet) display(f *flag) string {
	if f.valueName == "" {
		return "--" + f.name
	}
	return "--" + f.name + " " + f.valueName
}

func (fs *flagSet) errorf(format string, args ...any) error {
	return &usageError{
		msg:   "error: " + fmt.Sprintf(format, args...),
		usage: fmt.Sprintf("Usage: %s %s\n\nFor more information, try '--help'.", fs.cmd, fs.usage),
	}
}

// parse parses args. -h and --help set fs.help and stop.
func (fs *flagSet) parse(args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			fs.rest = args[i+1:]
			return nil
		case a == "-h" || a == "--help":
			fs.help = true
			return nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			f := fs.lookup(name)
			if f == nil {
				return fs.errorf("unexpected argument '%s' found", a)
			}
			if !f.repeatable && fs.seen[f] {
				return fs.errorf("the argument '%s' cannot be used multiple times", fs.display(f))
			}
			fs.seen[f] = true
			if f.valueName == "" {
				if hasVal {
					return fs.errorf("unexpected value '%s' for '%s' found; no more were expected", val, fs.display(f))
				}
				f.on()
				continue
			}
			if !hasVal {
				if i+1 >= len(args) || strings.HasPrefix(args[i+1], "--") {
					return fs.errorf("a value is required for '%s' but none was supplied", fs.display(f))
				}
				if next := args[i+1]; len(next) > 1 && next[0] == '-' {
					return fs.errorf("unexpected argument '%s' found", next)
				}
				i++
				val = args[i]
			}
			if err := f.set(val); err != nil {
				return fs.errorf("invalid value '%s' for '%s': %v", val, fs.display(f), err)
			}
		case len(a) > 1 && a[0] == '-':
			f := fs.lookupShort(a[1])
			if f == nil || f.valueName == "" {
				if f != nil && len(a) == 2 {
					f.on()
					continue
				}
				return fs.errorf("unexpected argument '%s' found", a)
			}
			val := a[2:]
			val = strings.TrimPrefix(val, "=")
			if val == "" {
				if i+1 >= len(args) {
					return fs.errorf("a value is required for '-%c %s' but none was supplied", f.short, f.valueName)
				}
				i++
				val = args[i]
			}
			if err := f.set(val); err != nil {
				return fs.errorf("invalid value '%s' for '-%c %s': %v", val, f.short, f.valueName, err)
			}
		default:
			fs.args = append(fs.args, a)
		}
	}
	return nil
}

// helpText formats the --help output.
func (fs *flagSet) helpText() string {
	var b strings.Builder
	if fs.about != "" {
		b.WriteString(fs.about)
		b.WriteString("\n\n")
	}
	fmt.Fprintf(&b, "Usage: %s %s\n\nOptions:\n", fs.cmd, fs.usage)
	for _, f := range fs.flags {
		b.WriteString("  ")
		if f.short != 0 {
			fmt.Fprintf(&b, "-%c, ", f.short)
		} else {
			b.WriteString("    ")
		}
		b.WriteString(fs.display(f))
		b.WriteString("\n")
		for _, line := range strings.Split(f.help, "\n") {
			b.WriteString("          ")
			b.WriteString(line)
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	b.WriteString("  -h, --help\n          Print help\n")
	return b.String()
}
