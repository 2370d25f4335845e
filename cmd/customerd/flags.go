package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// flagSet is a flag.FlagSet whose flags also read CUSTOMERD_* environment
// variables; a flag given on the command line beats the environment.
type flagSet struct {
	*flag.FlagSet
	getenv   func(string) string
	envs     map[string]string // flag name -> variable
	stdout   io.Writer         // where --help prints
	synopsis string
}

// newFlagSet returns an empty flag set. Its usage goes to stdout when asked
// for with --help (parse then returns flag.ErrHelp), and to stderr after a
// flag error.
func newFlagSet(name, synopsis string, getenv func(string) string, stdout, stderr io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), getenv: getenv, envs: map[string]string{},
		stdout: stdout, synopsis: synopsis}
	fs.SetOutput(stderr)
	fs.Usage = func() { fs.printUsage(fs.Output()) }
	return fs
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

// parse parses args, then fills every flag not given from its environment
// variable. Positional arguments are allowed before and after the flags.
func (fs *flagSet) parse(args []string) ([]string, error) {
	if wantsHelp(args) {
		fs.printUsage(fs.stdout)
		return nil, flag.ErrHelp
	}
	var positional []string
	for {
		if err := fs.FlagSet.Parse(args); err != nil {
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
				fmt.Fprintln(fs.Output(), err)
				return nil, err
			}
		}
	}
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
