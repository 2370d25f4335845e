package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// flagSet is a flag.FlagSet whose flags also read CUSTOMERD_* environment
// variables; a flag given on the command line beats the environment.
type flagSet struct {
	*flag.FlagSet
	getenv     func(string) string
	envs       map[string]string // flag name -> variable
	stdout     io.Writer         // where --help prints
	stderr     io.Writer         // where errors and refused arguments print
	synopsis   string
	parsing    bool     // inside FlagSet.Parse, whose errors parse prints (flagError)
	positional []string // what parse returned
}

// newFlagSet returns an empty flag set. Its usage goes to stdout when asked
// for with --help (parse then returns flag.ErrHelp). A flag error is printed
// alone to stderr, with the closest flag and where to find the others. Usage,
// which a command calls when it refuses its arguments, says on stderr that a
// subcommand is unknown, or prints the usage.
func newFlagSet(name, synopsis string, getenv func(string) string, stdout, stderr io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), getenv: getenv, envs: map[string]string{},
		stdout: stdout, stderr: stderr, synopsis: synopsis}
	fs.SetOutput(io.Discard) // the flag package's own messages; parse prints them its way
	fs.Usage = fs.refuse
	return fs
}

// refuse is the flag set's Usage: what a command prints when it refuses its
// positional arguments.
func (fs *flagSet) refuse() {
	if fs.parsing {
		return
	}
	subs := subcommands()[fs.Name()]
	switch {
	case len(fs.positional) == 0:
	case len(subs) == 0:
		fmt.Fprintf(fs.stderr, "customerd %s: unexpected argument %q\n%s\n", fs.Name(), fs.positional[0], seeHelp(fs.Name()))
		return
	case !slices.Contains(subs, fs.positional[0]):
		fmt.Fprintf(fs.stderr, "customerd %s: unknown subcommand %q%s\n%s\n", fs.Name(), fs.positional[0],
			didYouMean(fs.positional[0], subs, `"`, `"`), seeHelp(fs.Name()))
		return
	}
	fs.printUsage(fs.stderr)
}

// flagError prints an error of the flag package alone, the way the usage
// writes flags (--name), with the closest flag when the name is unknown.
func (fs *flagSet) flagError(err error) {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		msg = "unknown flag --" + name + didYouMean(name, names, "--", "")
	} else {
		msg = singleDashFlag.ReplaceAllString(msg, "$1--$2")
	}
	fmt.Fprintf(fs.stderr, "customerd %s: %s\n%s\n", fs.Name(), msg, seeHelp(fs.Name()))
}

// singleDashFlag is a flag name as the flag package's errors write it
// ("invalid value "x" for flag -db-max-conns"); values are quoted there.
var singleDashFlag = regexp.MustCompile(`(\s)-([a-zA-Z][\w-]*)`)

// seeHelp says where the usage of a command is.
func seeHelp(command string) string {
	if command == "" {
		return `see "customerd --help"`
	}
	return `see "customerd ` + command + ` --help"`
}

func (fs *flagSet) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: customerd %s\n\nFlags (each also read from its environment variable):\n", fs.synopsis)
	fs.printFlags(w)
}

// printFlags lists every flag with its environment variable and default.
func (fs *flagSet) printFlags(w io.Writer) {
	fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%s  (env %s, default %s)\n      %s\n", f.Name, fs.envs[f.Name], def, f.Usage)
	})
}

// wantsHelp reports whether args ask for help before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--h", "--help":
			return true
		}
	}
	return false
}

// envName is the environment variable of a flag: --db-max-conns is
// CUSTOMERD_DB_MAX_CONNS.
func envName(flagName string) string {
	return "CUSTOMERD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (fs *flagSet) String(name, def, usage string) *string {
	fs.envs[name] = envName(name)
	return fs.FlagSet.String(name, def, usage)
}

func (fs *flagSet) Int(name string, def int, usage string) *int {
	fs.envs[name] = envName(name)
	return fs.FlagSet.Int(name, def, usage)
}

func (fs *flagSet) Bool(name string, def bool, usage string) *bool {
	fs.envs[name] = envName(name)
	return fs.FlagSet.Bool(name, def, usage)
}

// parse parses args, then fills every flag not given from its environment
// variable. Positional arguments are allowed before and after the flags.
func (fs *flagSet) parse(args []string) ([]string, error) {
	if wantsHelp(args) {
		fs.printUsage(fs.stdout)
		return nil, flag.ErrHelp
	}
	var positional []string
	for {
		fs.parsing = true
		err := fs.FlagSet.Parse(args)
		fs.parsing = false
		if err != nil {
			fs.flagError(err)
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	names := make([]string, 0, len(fs.envs))
	for n := range fs.envs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if given[n] {
			continue
		}
		if v := fs.getenv(fs.envs[n]); v != "" {
			if err := fs.Set(n, v); err != nil {
				err = fmt.Errorf("%s: %w", fs.envs[n], err)
				fmt.Fprintf(fs.stderr, "customerd %s: %v\n", fs.Name(), err)
				return nil, err
			}
		}
	}
	fs.positional = positional
	return positional, nil
}

// usageError is what a command returns when parse fails: nothing when help
// was asked for (it has been printed), else errUsage (the problem has been
// printed).
func usageError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return errUsage
}
