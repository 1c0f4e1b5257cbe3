package cli

import (
	"context"
	"errors"
	"io"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	cobra.EnableCommandSorting = false // the commands in the order they are defined, the dashboard's first
}

// app builds the command tree and runs it. Each mode's command binds its flags into a
// Config holding the defaults and, once the flags are parsed, checks them in one list
// (the only place its settings are checked) before calling run with the Config: Main
// runs the mode, Parse keeps the Config.
type app struct {
	env     Env
	run     func(ctx context.Context, cfg Config, stdout, stderr io.Writer) error
	args    []string // the command line, to say where a stray argument is
	started bool     // run was called: an error from now on is the mode's, not the command line's

	// The config file, read once (configapply.go).
	confRead bool
	confPath string
	conf     *configFile
	confErr  error
}

// execute runs the command line args; it returns the command chosen.
func (a *app) execute(ctx context.Context, args []string, stdout, stderr io.Writer) (*cobra.Command, error) {
	a.args = append([]string{}, args...) // never nil: cobra would read os.Args
	root := a.root()
	root.SetArgs(a.args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContextC(ctx)
}

func (a *app) root() *cobra.Command {
	cfg := defaults("", a.env)
	root := &cobra.Command{Use: "quflx-tui [connection] [keys] [options]", Short: rootShort, Long: rootLong,
		Example: rootExamples, Annotations: map[string]string{synopsisAnnotation: "quflx-tui --demo [pipeline options]"}}
	conn := addConnFlags(root, &cfg, a.env)
	keys := addKeyFlags(root, &cfg, assetsOfDemo)
	topo := addTopologyFlags(root, &cfg, keys)
	addDashboardFlags(root, &cfg)
	addThemeFlag(root, &cfg)
	addStoreFlag(root, groupOptions, &cfg.Flush, storeOfDemo)
	alerts := addAlertFlags(root, &cfg)
	feed := addFeedFlags(root, groupDemoFeed, &cfg.Feed)
	flush := addFlushFlags(root, groupDemoFlush, &cfg.Flush)
	a.mode(root, &cfg, func() error { return checkDashboard(&cfg, root.Flags()) }, func() error { return checkTheme(&cfg) },
		conn.resolve, topo.resolve, keys.resolve,
		func() error { return checkDuration(&cfg) }, alerts.resolve, feed.check, flush.check)

	pf := root.PersistentFlags()
	pf.SortFlags = false
	pf.Bool("help", false, "print this help and exit") // --help only: -h is the host, as in redis-cli
	pf.Bool("version", false, "print the version and exit")
	pf.String("config", "", "read the configuration from `FILE` (default: $XDG_CONFIG_HOME/quflx-tui/config.toml, "+
		"else ~/.config/quflx-tui/config.toml, if it exists); flags override it")
	pf.String("cpuprofile", "", "write a CPU profile of the run to `FILE` (or QUFLX_CPUPROFILE)")
	_ = pf.MarkHidden("cpuprofile")
	completeFiles(root, "config", "cpuprofile")

	root.SetFlagErrorFunc(a.flagError)
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) { writeHelp(cmd.OutOrStdout(), cmd) })
	root.SilenceErrors, root.SilenceUsage = true, true
	root.SuggestionsMinimumDistance = 2
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(a.feed(), a.flush(), a.status(), a.serve(), a.mcp(), a.migrate(), a.configCmd(), a.completion(),
		a.man())
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		c.Hidden = c.Hidden || c.Name() == "help" // `quflx-tui help feed` works; --help is the way shown
	}
	return root
}

func (a *app) feed() *cobra.Command {
	cfg := defaults("feed", a.env)
	cmd := &cobra.Command{Use: "feed [connection] [keys] [feed options]", Short: feedShort, Long: feedLong,
		Example: feedExamples}
	conn := addConnFlags(cmd, &cfg, a.env)
	keys := addKeyFlags(cmd, &cfg, assetsToFeed)
	feed := addFeedFlags(cmd, groupFeed, &cfg.Feed)
	addRunFlags(cmd, &cfg)
	return a.mode(cmd, &cfg, conn.resolve, keys.resolve, feed.check, func() error { return checkDuration(&cfg) })
}

func (a *app) flush() *cobra.Command {
	cfg := defaults("flush", a.env)
	cmd := &cobra.Command{Use: "flush [connection] [keys] [flush options]", Short: flushShort, Long: flushLong,
		Example: flushExamples}
	conn := addConnFlags(cmd, &cfg, a.env)
	keys := addKeyFlags(cmd, &cfg, assetsToFollow)
	keys.channelNeedsAsset = true
	addStoreFlag(cmd, groupFlush, &cfg.Flush, storeToFlush)
	flush := addFlushFlags(cmd, groupFlush, &cfg.Flush)
	addRunFlags(cmd, &cfg)
	return a.mode(cmd, &cfg, conn.resolve, keys.resolve, flush.check, func() error { return checkDuration(&cfg) })
}

func (a *app) status() *cobra.Command {
	cfg := defaults("status", a.env)
	cmd := &cobra.Command{Use: "status [connection] [keys] [status options]", Short: statusShort, Long: statusLong,
		Example: statusExamples}
	conn := addConnFlags(cmd, &cfg, a.env)
	keys := addKeyFlags(cmd, &cfg, assetsToFollow)
	topo := addTopologyFlags(cmd, &cfg, keys)
	addStatusFlags(cmd, &cfg)
	return a.mode(cmd, &cfg, conn.resolve, topo.resolve, keys.resolve, func() error { return checkStatus(&cfg, cmd.Flags()) })
}

// serve is the dashboard over SSH: the dashboard's connection, keys and view, read-only
// always (no --fill-cache), and --demo.
func (a *app) serve() *cobra.Command {
	cfg := defaults("serve", a.env)
	cmd := &cobra.Command{Use: "serve --authorized-keys FILE [connection] [keys] [options]", Short: serveShort,
		Long: serveLong, Example: serveExamples}
	conn := addConnFlags(cmd, &cfg, a.env)
	keys := addKeyFlags(cmd, &cfg, assetsOfDemo)
	topo := addTopologyFlags(cmd, &cfg, keys)
	addServeFlags(cmd, &cfg)
	inGroup(cmd, groupOptions, func(fs *pflag.FlagSet) {
		addViewFlags(fs, &cfg)
		addDurationFlag(fs, &cfg)
		addMetricsFlag(fs, &cfg)
		addDemoFlag(fs, &cfg)
	})
	completeAverages(cmd)
	addThemeFlag(cmd, &cfg)
	addStoreFlag(cmd, groupOptions, &cfg.Flush, storeOfDemo)
	feed := addFeedFlags(cmd, groupDemoFeed, &cfg.Feed)
	flush := addFlushFlags(cmd, groupDemoFlush, &cfg.Flush)
	return a.mode(cmd, &cfg, func() error { return checkServe(&cfg, a.env) },
		func() error { return checkDashboard(&cfg, cmd.Flags()) }, func() error { return checkTheme(&cfg) },
		conn.resolve, topo.resolve, keys.resolve,
		func() error { return checkDuration(&cfg) }, feed.check, flush.check)
}

func (a *app) mcp() *cobra.Command {
	cfg := defaults("mcp", a.env)
	cmd := &cobra.Command{Use: "mcp [connection] [keys] [--allow-writes]", Short: mcpShort, Long: mcpLong,
		Example: mcpExamples}
	conn := addConnFlags(cmd, &cfg, a.env)
	keys := addKeyFlags(cmd, &cfg, assetsToFollow)
	inGroup(cmd, groupOptions, func(fs *pflag.FlagSet) {
		fs.BoolVar(&cfg.AllowWrites, "allow-writes", false, "also offer redis_set, redis_del, redis_lpush and "+
			"redis_ltrim (otherwise the server is read-only)")
	})
	return a.mode(cmd, &cfg, conn.resolve, keys.resolve)
}

// migrate takes --store alone: it reads no Redis settings, so a broken REDIS_URL on the
// box cannot stop it.
func (a *app) migrate() *cobra.Command {
	cfg := defaults("migrate", a.env)
	cmd := &cobra.Command{Use: "migrate --store DSN", Short: migrateShort, Long: migrateLong, Example: migrateExamples}
	addStoreFlag(cmd, groupOptions, &cfg.Flush, storeMigrate)
	return a.mode(cmd, &cfg, func() error {
		if cfg.Flush.Store == "" {
			return usageErr("migrate needs --store DSN (sqlite:PATH or postgres://...)")
		}
		return checkStore(cfg.Flush.Store)
	})
}

// mode finishes the command of a mode: it takes no arguments; once its flags are parsed,
// its checks run in order and the mode runs with the Config they completed.
func (a *app) mode(cmd *cobra.Command, cfg *Config, checks ...func() error) *cobra.Command {
	cmd.Flags().SortFlags = false
	cmd.Args = a.noArgs
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	cmd.DisableFlagsInUseLine, cmd.DisableAutoGenTag = true, true
	if cmd.Flags().Lookup("connection") != nil {
		// The profiles of the config file, if it reads.
		_ = cmd.RegisterFlagCompletionFunc("connection", func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
			f, err := a.loadConfig(cmd)
			if err != nil || f == nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			profiles, _ := f.doc["connections"].(map[string]any)
			return sortedKeys(profiles), cobra.ShellCompDirectiveNoFileComp
		})
	}
	completeNothingElse(cmd)
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[modeAnnotation] = "true"
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if version, _ := cmd.Flags().GetBool("version"); version {
			return a.start(cmd, Config{ShowVersion: true})
		}
		// The config file fills in what the command line left alone, before any check.
		if err := a.applyConfig(cmd, cfg); err != nil {
			return err
		}
		for _, check := range checks {
			if err := check(); err != nil {
				return blame(cmd, err)
			}
		}
		if path, _ := cmd.Flags().GetString("cpuprofile"); path != "" {
			cfg.CPUProfile = path
		}
		return a.start(cmd, *cfg)
	}
	return cmd
}

func (a *app) start(cmd *cobra.Command, cfg Config) error {
	a.started = true
	return a.run(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
}

// commandWord is what a mistyped command looks like (and a password seldom does).
var commandWord = regexp.MustCompile(`^[a-z][a-z0-9-]{0,23}$`)

// noArgs refuses arguments, saying where the first one is and never what it is: a
// password with a space in it, unquoted, would otherwise be half shown.
func (a *app) noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	pos := a.position(cmd)
	if !cmd.HasParent() && pos == 1 && commandWord.MatchString(args[0]) {
		hint := ""
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			hint = "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return usageErr("unknown command %q%s", args[0], hint)
	}
	return usageErr("unexpected argument at position %d: %s takes none (quote a value that holds spaces)",
		pos, cmd.CommandPath())
}

// position returns where on the command line (1 for the first argument) the first word
// is that is neither a flag, a flag's value nor the command's name.
func (a *app) position(cmd *cobra.Command) int {
	fs := cmd.Flags()
	takesValue := func(f *pflag.Flag) bool { return f != nil && f.NoOptDefVal == "" }
	name := cmd.HasParent() // a subcommand's name is on the line once
	for i := 0; i < len(a.args); i++ {
		arg := a.args[i]
		switch {
		case arg == "--":
			return min(i+2, len(a.args))
		case strings.HasPrefix(arg, "--"):
			if n, _, inline := strings.Cut(arg[2:], "="); !inline && takesValue(fs.Lookup(n)) {
				i++
			}
		case strings.HasPrefix(arg, "-") && len(arg) > 1:
			for j := 1; j < len(arg); j++ {
				if takesValue(fs.ShorthandLookup(arg[j : j+1])) {
					if j == len(arg)-1 {
						i++ // -a VALUE; -aVALUE holds its own
					}
					break
				}
			}
		case name && arg == cmd.Name():
			name = false
		default:
			return i + 1
		}
	}
	return len(a.args)
}

// flagError makes pflag's errors one line that names the flag, never the value given.
func (a *app) flagError(cmd *cobra.Command, err error) error {
	var invalid *pflag.InvalidValueError
	var missing *pflag.NotExistError
	switch {
	case errors.Is(err, pflag.ErrHelp): // -h where it is not the host: pflag takes it for help
		return usageErr("-h is not a flag of %q; the help is --help", cmd.CommandPath())
	case errors.As(err, &invalid):
		f := invalid.GetFlag()
		return usageErr("invalid value for %s: want %s", flagTitle(f), wantOf(f))
	case errors.As(err, &missing):
		name, short := "--"+missing.GetSpecifiedName(), missing.GetSpecifiedShortnames() != ""
		if short {
			name = "-" + missing.GetSpecifiedName()
		}
		if hasFlag(cmd.Root(), missing.GetSpecifiedName(), short) {
			return usageErr("%s is not a flag of %q", name, cmd.CommandPath())
		}
		return usageErr("unknown flag: %s", name)
	case errors.As(err, new(*pflag.InvalidSyntaxError)):
		return usageErr("bad flag syntax: want -x, -x VALUE, --name or --name=VALUE")
	}
	return &UsageError{msg: err.Error()} // "flag needs an argument: --redis" names the flag only
}

func flagTitle(f *pflag.Flag) string {
	if f.Shorthand != "" {
		return "-" + f.Shorthand + ", --" + f.Name
	}
	return "--" + f.Name
}

func wantOf(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "int", "int64", "uint64":
		return "a whole number"
	case "float64":
		return "a number"
	case "duration":
		return "a duration such as 500ms, 30s or 2m"
	case "bool":
		return "true or false"
	}
	return "a valid value"
}

// hasFlag tells whether any command of the tree has the flag.
func hasFlag(root *cobra.Command, name string, short bool) bool {
	found := false
	walk(root, func(c *cobra.Command) {
		if short {
			found = found || c.Flags().ShorthandLookup(name) != nil
		} else {
			found = found || c.Flags().Lookup(name) != nil
		}
	})
	return found
}

func walk(c *cobra.Command, visit func(*cobra.Command)) {
	visit(c)
	for _, sub := range c.Commands() {
		walk(sub, visit)
	}
}
