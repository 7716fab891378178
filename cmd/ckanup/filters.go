package main

import (
	"fmt"
	"strings"

	"github.com/ckanup/ckanup/internal/fileset"
	"github.com/spf13/cobra"
)

// filterHelp is the part of upload's help about which files are taken.
const filterHelp = `Which files: a directory given with --recursive, or a glob ('data/**/*.csv'),
leaves out hidden files and directories (.git, .DS_Store, .env, …) and the
usual editor and desktop droppings (*.swp, *~, #*#, ~$*, Thumbs.db,
desktop.ini, __MACOSX/, CVS/); --include-hidden takes them. A .ckanupignore
file (gitignore syntax) in a walked directory leaves out what it matches below
it; --exclude-from FILE adds such rules for the whole run. --exclude and
--include patterns ('*.tmp', 'tmp/', '/top-only.csv', 'raw/**') match the path
below the walked directory, at any depth unless they start with "/"; the last
one that matches decides, and a first --include means "only these". A file named
on the command line is taken even if hidden. --dry-run -v lists what was left
out and why.

`

// registerFilterFlags adds the flags that choose files to o.
func registerFilterFlags(cmd *cobra.Command, o *fileset.Options) {
	f := cmd.Flags()
	f.BoolVar(&o.IncludeHidden, "include-hidden", false, "also take hidden files and directories (.git, .env, …) and editor droppings (*.swp, *~, Thumbs.db, …)")
	f.Var(&filterFlag{list: &o.Filters}, "exclude", "leave out files matching this pattern (repeatable; *, **, ?, [a-z], {a,b}; later patterns win)")
	f.Var(&filterFlag{list: &o.Filters, include: true}, "include", "take files matching this pattern (repeatable; a first --include takes only what the --include patterns match)")
	f.StringArrayVar(&o.ExcludeFrom, "exclude-from", nil, "read patterns to leave out from this file, in gitignore syntax (repeatable)")
}

// filterFlag appends --include and --exclude patterns to one list, so their
// order on the command line is kept.
type filterFlag struct {
	list    *[]fileset.Filter
	include bool
}

func (f *filterFlag) Set(s string) error {
	*f.list = append(*f.list, fileset.Filter{Include: f.include, Pattern: s})
	return nil
}

func (f *filterFlag) String() string {
	var ps []string
	if f.list != nil {
		for _, x := range *f.list {
			if x.Include == f.include {
				ps = append(ps, x.Pattern)
			}
		}
	}
	return strings.Join(ps, ",")
}

func (f *filterFlag) Type() string { return "pattern" }

// selectFiles expands the command's arguments into the files to upload, and
// reports what it left out: each exclusion with -v, a count in a dry run.
func (o *UploadOptions) selectFiles() ([]inputFile, error) {
	opts := o.Filter
	opts.Recursive = o.Recursive
	sel, err := fileset.Expand(o.Paths, opts)
	if sel != nil && !o.Global.Quiet {
		if o.Global.Verbose {
			for _, x := range sel.Excluded {
				fmt.Fprintf(o.Stderr, "ckanup: excluded %s: %s\n", x.Path, x.Reason)
			}
		} else if n := len(sel.Excluded); n > 0 && (o.DryRun || err != nil) {
			fmt.Fprintf(o.Stderr, "ckanup: %d file(s) or directories left out (hidden, ignored or filtered): add -v to list them and why\n", n)
		}
	}
	if err != nil {
		return nil, err // a *fileset.Error: usage, not found or permission
	}
	return sel.Files, nil
}
