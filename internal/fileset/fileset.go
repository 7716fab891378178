// Package fileset turns a command's arguments (files, globs, directories) into
// the list of local files to publish, and says which files it left out and why.
//
// What is taken, in order of the checks:
//
//   - A path named on the command line is taken as it is, hidden or not; only
//     --exclude/--include and --exclude-from rules apply to it, matched against
//     its base name.
//   - A glob ("data/*.csv", "exports/**/*.parquet": doublestar syntax) and a
//     directory walked with Recursive give candidates whose name is their path
//     below the glob's fixed part or the directory, with "/" separators.
//   - Among those, hidden files and directories (a name starting with ".": .git,
//     .DS_Store, .env, vim's .x.swp) and the usual droppings of editors and
//     desktops (Defaults: *.swp, *~, Thumbs.db, …) are left out, unless
//     IncludeHidden. A glob whose pattern itself names a dot-entry ("d/.*")
//     takes hidden names.
//   - Ignore files in gitignore syntax: IgnoreFileName (".ckanupignore") in each
//     walked directory, for the files below it, and the files of ExcludeFrom,
//     for every candidate with paths relative to the walked directory. A
//     directory they exclude is not entered. "!" re-includes, as in git.
//   - Filters (--exclude / --include), in the order given: the last one that
//     matches a file decides. A file no filter matches is taken, unless the
//     first filter is an --include: then only files an --include takes are.
//     A pattern without a leading "/" matches the end of the name ("*.csv" at
//     any depth, "tmp/**" for any tmp directory); "/x/*.csv" is anchored at the
//     walked directory; a trailing "/" stands for everything below a directory.
//     These are rclone's matching rules, and the aws-cli's "later filters win".
//
// Symbolic links to files are followed; a walk does not descend into symbolic
// links to directories. Devices, FIFOs and sockets are refused.
package fileset

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/ckanup/ckanup/internal/failure"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// DefaultIgnoreFileName is the per-directory ignore file read during a walk.
const DefaultIgnoreFileName = ".ckanupignore"

// Defaults are the editor, desktop and version-control droppings that are not
// hidden by a leading dot but are left out like hidden files (IncludeHidden
// takes them). Hidden names (.git, .svn, .hg, .DS_Store, .idea, .vscode, vim's
// .x.swp, LibreOffice's .~lock.x#) need no entry here.
var Defaults = []string{
	"*.swp", "*.swo", // vim swap files of a file opened with :e, or copied out of their dot
	"*~",                       // emacs, gedit, nano backups
	"#*#",                      // emacs auto-save
	"~$*",                      // Microsoft Office owner files
	"Thumbs.db", "desktop.ini", // Windows Explorer
	"__MACOSX/", // macOS Archive Utility
	"CVS/",      // CVS
}

// File is one local file to publish.
type File struct {
	Path string // as found on disk ("-" is standard input)
	Name string // resource name: the base name, or the path below a walked directory or glob base
	Size int64  // bytes; -1 for standard input
}

// Exclusion is a file or directory left out, and why.
type Exclusion struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Filter is one --include or --exclude pattern.
type Filter struct {
	Include bool
	Pattern string
}

// Options say what to take. The zero value takes files named directly and
// refuses directories.
type Options struct {
	// Recursive walks directories.
	Recursive bool
	// IncludeHidden takes dot-names and Defaults.
	IncludeHidden bool
	// Filters are --include and --exclude patterns in command-line order.
	Filters []Filter
	// ExcludeFrom are files of gitignore patterns (--exclude-from).
	ExcludeFrom []string
	// IgnoreFileName is the per-directory ignore file; "" means DefaultIgnoreFileName.
	IgnoreFileName string
}

// Selection is what Expand found.
type Selection struct {
	Files    []File
	Excluded []Exclusion
}

// Error is a problem with the arguments or the files they name. Its kind (see
// internal/failure) is NotFound for a missing file or a glob without matches,
// Auth for a file that may not be read, Usage for the rest.
type Error struct {
	Kind failure.Kind
	Path string
	msg  string
	err  error
}

func (e *Error) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}
func (e *Error) Unwrap() error             { return e.err }
func (e *Error) FailureKind() failure.Kind { return e.Kind }

func usagef(path, format string, a ...any) *Error {
	return &Error{Kind: failure.Usage, Path: path, msg: fmt.Sprintf(format, a...)}
}

// readError describes a file or directory that could not be read.
func readError(path string, err error) *Error {
	k := failure.Usage
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &Error{Kind: failure.NotFound, Path: path, msg: "no such file: " + path}
	case errors.Is(err, fs.ErrPermission):
		k = failure.Auth
	}
	return &Error{Kind: k, Path: path, msg: "cannot read " + path, err: cause(err)}
}

// rule is one parsed gitignore pattern and where it came from.
type rule struct {
	p      gitignore.Pattern
	source string // ".ckanupignore in d" or "--exclude-from f"
	line   int
	text   string
}

// Expand expands args into the files to publish. It returns an *Error for a
// missing, unreadable or unfit file, a directory without Recursive, a bad
// pattern, two files that would get the same name, or nothing left to publish.
func Expand(args []string, o Options) (*Selection, error) {
	if err := checkFilters(o.Filters); err != nil {
		return nil, err
	}
	if o.IgnoreFileName == "" {
		o.IgnoreFileName = DefaultIgnoreFileName
	}
	var from []rule
	for _, f := range o.ExcludeFrom {
		rs, err := readRules(f, "--exclude-from "+f, nil)
		if err != nil {
			return nil, readError(f, err)
		}
		from = append(from, rs...)
	}
	var defaults []rule
	if !o.IncludeHidden {
		for _, d := range Defaults {
			defaults = append(defaults, rule{p: gitignore.ParsePattern(d, nil), source: "default exclusions", text: d})
		}
	}
	x := &expander{o: o, from: from, defaults: defaults, seen: map[string]bool{}}
	for _, arg := range args {
		if arg == "-" {
			if len(args) != 1 {
				return nil, usagef(arg, "standard input (-) must be the only thing to upload")
			}
			return &Selection{Files: []File{{Path: "-", Size: -1}}}, nil
		}
		if err := x.arg(arg); err != nil {
			return nil, err
		}
	}
	sel := &Selection{Files: x.files, Excluded: x.excluded}
	if len(x.files) == 0 {
		if n := len(x.excluded); n > 0 {
			return sel, usagef("", "no files to upload: all %d found were excluded (see them with --dry-run -v)", n)
		}
		return sel, usagef("", "no files to upload")
	}
	names := map[string]string{}
	for _, f := range x.files {
		if prev, dup := names[f.Name]; dup {
			return sel, usagef(f.Path, "%s and %s would both become resource %q, and the second would replace the first: to keep both, upload their common directory with --recursive (or quote a glob such as '*/%s'), which names each resource by its path below it, or upload each in its own run with its own --name",
				prev, f.Path, f.Name, f.Name)
		}
		names[f.Name] = f.Path
	}
	return sel, nil
}

type expander struct {
	o        Options
	from     []rule // --exclude-from
	defaults []rule
	seen     map[string]bool
	files    []File
	excluded []Exclusion
}

func (x *expander) exclude(path, reason string) {
	x.excluded = append(x.excluded, Exclusion{Path: path, Reason: reason})
}

func (x *expander) arg(arg string) error {
	if _, err := os.Lstat(arg); errors.Is(err, fs.ErrNotExist) && strings.ContainsAny(arg, "*?[{") {
		return x.glob(arg)
	}
	fi, err := os.Stat(arg)
	if err != nil {
		return readError(arg, err)
	}
	if !fi.IsDir() {
		name := ResourceName(filepath.Base(arg))
		if reason := x.filtered([]string{filepath.Base(arg)}, false, true, nil); reason != "" {
			x.exclude(arg, reason)
			return nil
		}
		return x.add(arg, name, fi)
	}
	if !x.o.Recursive {
		return usagef(arg, "%s is a directory: pass --recursive (-r) to upload the files in it", arg)
	}
	return x.walk(arg)
}

// glob expands a doublestar pattern. The name of a match is its path below the
// pattern's fixed leading directories.
func (x *expander) glob(arg string) error {
	pattern := filepath.ToSlash(arg)
	if !doublestar.ValidatePattern(pattern) {
		return usagef(arg, "bad pattern %q", arg)
	}
	base, rest := doublestar.SplitPattern(pattern)
	matches, err := doublestar.FilepathGlob(arg, doublestar.WithNoFollow())
	if err != nil {
		return usagef(arg, "bad pattern %q: %v", arg, err)
	}
	if len(matches) == 0 {
		return &Error{Kind: failure.NotFound, Path: arg, msg: fmt.Sprintf("no file matches %q", arg)}
	}
	dotOK := x.o.IncludeHidden || strings.HasPrefix(rest, ".") || strings.Contains(rest, "/.")
	for _, m := range matches {
		fi, err := os.Stat(m)
		if err != nil {
			return readError(m, err)
		}
		rel := filepath.ToSlash(m)
		if base != "." {
			rel = strings.TrimPrefix(strings.TrimPrefix(rel, base), "/")
		}
		segs := strings.Split(rel, "/")
		if !dotOK {
			if h := hiddenSegment(segs); h != "" {
				x.exclude(m, fmt.Sprintf("hidden (%s): pass --include-hidden to take it", h))
				continue
			}
		}
		if fi.IsDir() {
			if !x.o.Recursive {
				return usagef(m, "%s is a directory: pass --recursive (-r) to upload the files in it", m)
			}
			if err := x.walk(m); err != nil {
				return err
			}
			continue
		}
		if reason := x.filtered(segs, false, false, nil); reason != "" {
			x.exclude(m, reason)
			continue
		}
		if err := x.add(m, ResourceName(rel), fi); err != nil {
			return err
		}
	}
	return nil
}

func hiddenSegment(segs []string) string {
	for _, s := range segs {
		if strings.HasPrefix(s, ".") && s != "." && s != ".." {
			return s
		}
	}
	return ""
}

// walk adds the files below root.
func (x *expander) walk(root string) error {
	var local []rule // ignore files met so far in this walk (scoped by their directory)
	before, excludedBefore := len(x.files), len(x.excluded)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return readError(p, err)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		var segs []string
		if rel != "." {
			segs = strings.Split(filepath.ToSlash(rel), "/")
		}
		isDir := d.IsDir()
		if len(segs) > 0 {
			if !x.o.IncludeHidden && strings.HasPrefix(d.Name(), ".") {
				if d.Name() != x.o.IgnoreFileName {
					x.exclude(p, "hidden: pass --include-hidden to take it")
				}
				return skip(isDir)
			}
			if d.Name() == x.o.IgnoreFileName && !isDir {
				return nil // read below, as its directory is entered
			}
			if reason := x.filtered(segs, isDir, false, local); reason != "" {
				x.exclude(p, reason)
				return skip(isDir)
			}
		}
		if isDir {
			rs, err := readRules(filepath.Join(p, x.o.IgnoreFileName), x.o.IgnoreFileName+" in "+p, segs)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return readError(filepath.Join(p, x.o.IgnoreFileName), err)
			}
			local = append(local, rs...)
			return nil
		}
		fi, err := os.Stat(p) // follows a symlink to a file
		if err != nil {
			return readError(p, err)
		}
		if fi.IsDir() {
			return nil // a symlink to a directory: not followed
		}
		return x.add(p, ResourceName(filepath.ToSlash(rel)), fi)
	})
	if err != nil {
		return err
	}
	if len(x.files) == before && len(x.excluded) == excludedBefore {
		return usagef(root, "no files found under %s", root)
	}
	return nil
}

func skip(isDir bool) error {
	if isDir {
		return filepath.SkipDir
	}
	return nil
}

// filtered says why the entry at segs (its path below the walked directory or
// glob base) is left out, or "" to take it. Directories are only checked
// against the default and ignore rules; files against everything. A file
// named on the command line (named) is not checked against the defaults.
func (x *expander) filtered(segs []string, isDir, named bool, local []rule) string {
	if r := lastMatch(segs, isDir, x.defaults); r != nil && !named {
		return fmt.Sprintf("a usual editor or system file (%s): pass --include-hidden to take it", r.text)
	}
	rules := append(append([]rule(nil), x.from...), local...)
	if r := lastMatch(segs, isDir, rules); r != nil {
		if r.line > 0 {
			return fmt.Sprintf("ignored by %s, line %d: %s", r.source, r.line, r.text)
		}
		return fmt.Sprintf("ignored by %s: %s", r.source, r.text)
	}
	if isDir {
		return ""
	}
	return filterReason(x.o.Filters, strings.Join(segs, "/"))
}

// lastMatch is the rule that decides segs, git's way: the last matching rule
// wins; nil when none matches or the deciding rule re-includes ("!").
func lastMatch(segs []string, isDir bool, rules []rule) *rule {
	for i := len(rules) - 1; i >= 0; i-- {
		switch rules[i].p.Match(segs, isDir) {
		case gitignore.Exclude:
			return &rules[i]
		case gitignore.Include:
			return nil
		}
	}
	return nil
}

// filterReason applies --include / --exclude to a file's name.
func filterReason(filters []Filter, name string) string {
	for i := len(filters) - 1; i >= 0; i-- {
		f := filters[i]
		if matchFilter(f.Pattern, name) {
			if f.Include {
				return ""
			}
			return fmt.Sprintf("excluded by --exclude %q", f.Pattern)
		}
	}
	if len(filters) > 0 && filters[0].Include {
		return "matches no --include pattern"
	}
	return ""
}

// matchFilter matches name ("a/b/c.csv") against an rclone-style pattern.
func matchFilter(pattern, name string) bool {
	if strings.HasSuffix(pattern, "/") {
		pattern += "**"
	}
	if anchored, ok := strings.CutPrefix(pattern, "/"); ok {
		m, _ := doublestar.Match(anchored, name)
		return m
	}
	m, _ := doublestar.Match("**/"+pattern, name)
	return m
}

func checkFilters(filters []Filter) error {
	for _, f := range filters {
		flag := "--exclude"
		if f.Include {
			flag = "--include"
		}
		p := strings.TrimPrefix(f.Pattern, "/")
		if f.Pattern == "" || !doublestar.ValidatePattern(p) {
			return usagef("", "%s %q: not a valid pattern (use *, **, ?, [a-z] and {a,b})", flag, f.Pattern)
		}
	}
	return nil
}

// readRules reads a file of gitignore patterns; domain is the directory the
// patterns are relative to (nil: the walked directory). Blank lines and lines
// starting with "#" are skipped.
func readRules(file, source string, domain []string) ([]rule, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rules []rule
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rules = append(rules, rule{p: gitignore.ParsePattern(line, domain), source: source, line: n, text: strings.TrimSpace(line)})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return rules, nil
}

// add takes a regular, readable file once.
func (x *expander) add(p, name string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return usagef(p, "%s is not a regular file (devices, FIFOs and sockets cannot be uploaded)", p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return readError(p, err)
	}
	if x.seen[abs] {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return readError(p, err)
	}
	f.Close()
	x.seen[abs] = true
	x.files = append(x.files, File{Path: p, Name: name, Size: fi.Size()})
	return nil
}

// ResourceName makes a file name fit to show as a resource name: control
// characters (a newline in a file name, say) become spaces, and it is trimmed.
func ResourceName(name string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, name))
}

// cause drops the path from an *fs.PathError (the message names the file).
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
