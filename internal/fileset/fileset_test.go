package fileset

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/ckanup/ckanup/internal/failure"
	"github.com/ckanup/ckanup/internal/fifotest"
)

// tree makes files under a new temporary directory; a name ending in "/" is an
// empty directory; "name=content" writes content.
func tree(t *testing.T, entries ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, e := range entries {
		name, content, _ := strings.Cut(e, "=")
		p := filepath.Join(root, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if content == "" {
			content = name
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func names(files []File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	sort.Strings(out)
	return out
}

// excludedBelow lists the excluded paths relative to root, with their reasons.
func excludedBelow(t *testing.T, root string, ex []Exclusion) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range ex {
		rel, err := filepath.Rel(root, e.Path)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.ToSlash(rel)] = e.Reason
	}
	return out
}

func TestExpandSelection(t *testing.T) {
	droppings := []string{"d/.git/config", "d/.git/HEAD", "d/.DS_Store", "d/x.csv.swp", "d/x.csv"}
	cases := []struct {
		name  string
		files []string
		args  []string // relative to the tree; default "d"
		opts  Options
		want  []string
		// excluded path (relative to the tree) → a word its reason must contain
		excluded map[string]string
	}{
		{name: "editor and VCS droppings are left out", files: droppings,
			want:     []string{"x.csv"},
			excluded: map[string]string{"d/.git": "hidden", "d/.DS_Store": "hidden", "d/x.csv.swp": "*.swp"}},
		{name: "--include-hidden takes them", files: droppings, opts: Options{IncludeHidden: true},
			want: []string{".DS_Store", ".git/HEAD", ".git/config", "x.csv", "x.csv.swp"}},
		{name: "other droppings", files: []string{"d/a.csv~", "d/#a.csv#", "d/Thumbs.db", "d/~$book.xlsx", "d/__MACOSX/a.csv", "d/sub/desktop.ini", "d/sub/b.csv"},
			want: []string{"sub/b.csv"},
			excluded: map[string]string{"d/a.csv~": "*~", "d/#a.csv#": "#*#", "d/Thumbs.db": "Thumbs.db",
				"d/~$book.xlsx": "~$*", "d/__MACOSX": "__MACOSX/", "d/sub/desktop.ini": "desktop.ini"}},
		{name: "--exclude matches at any depth", files: []string{"d/a.csv", "d/a.tmp", "d/sub/b.tmp", "d/sub/b.csv"},
			opts: Options{Filters: []Filter{{Pattern: "*.tmp"}}}, want: []string{"a.csv", "sub/b.csv"},
			excluded: map[string]string{"d/a.tmp": `--exclude "*.tmp"`, "d/sub/b.tmp": `--exclude "*.tmp"`}},
		{name: "a leading / anchors at the walked directory", files: []string{"d/a.tmp", "d/sub/a.tmp"},
			opts: Options{Filters: []Filter{{Pattern: "/a.tmp"}}}, want: []string{"sub/a.tmp"}},
		{name: "** spans directories", files: []string{"d/raw/a.csv", "d/x/raw/y/b.csv", "d/raw.csv", "d/clean/c.csv"},
			opts: Options{Filters: []Filter{{Pattern: "raw/**"}}}, want: []string{"clean/c.csv", "raw.csv"}},
		{name: "a trailing / is a whole directory", files: []string{"d/tmp/a.csv", "d/sub/tmp/b.csv", "d/tmp.csv"},
			opts: Options{Filters: []Filter{{Pattern: "tmp/"}}}, want: []string{"tmp.csv"}},
		{name: "--include alone takes only what it matches", files: []string{"d/a.csv", "d/b.json", "d/sub/c.csv"},
			opts: Options{Filters: []Filter{{Include: true, Pattern: "*.csv"}}}, want: []string{"a.csv", "sub/c.csv"},
			excluded: map[string]string{"d/b.json": "no --include"}},
		{name: "aws-cli: exclude everything, then include", files: []string{"d/a.csv", "d/b.json"},
			opts: Options{Filters: []Filter{{Pattern: "*"}, {Include: true, Pattern: "*.csv"}}}, want: []string{"a.csv"}},
		{name: "the last matching filter wins", files: []string{"d/a.csv", "d/old-a.csv", "d/b.json"},
			opts: Options{Filters: []Filter{{Include: true, Pattern: "*.csv"}, {Pattern: "old-*"}}}, want: []string{"a.csv"}},
		{name: "an earlier exclude loses to a later include", files: []string{"d/old-a.csv", "d/old-b.json", "d/c.json"},
			opts: Options{Filters: []Filter{{Pattern: "old-*"}, {Include: true, Pattern: "*.csv"}}}, want: []string{"c.json", "old-a.csv"}},
		{name: "braces", files: []string{"d/a.csv", "d/b.json", "d/c.xml"},
			opts: Options{Filters: []Filter{{Include: true, Pattern: "*.{csv,json}"}}}, want: []string{"a.csv", "b.json"}},
		{name: ".ckanupignore: gitignore syntax, scoped to its directory",
			files: []string{"d/.ckanupignore=# logs\n*.log\n!keep.log\nbuild/\n", "d/a.log", "d/keep.log", "d/build/out.csv", "d/x.csv",
				"d/sub/.ckanupignore=*.csv\n", "d/sub/y.csv", "d/sub/y.json", "d/other/z.csv"},
			want: []string{"keep.log", "other/z.csv", "sub/y.json", "x.csv"},
			excluded: map[string]string{"d/a.log": ".ckanupignore in " + "{root}/d, line 2: *.log", "d/build": "line 4: build/",
				"d/sub/y.csv": "line 1: *.csv"}},
		{name: "the ignore file itself is never taken", files: []string{"d/.ckanupignore=*.log\n", "d/a.csv"},
			opts: Options{IncludeHidden: true}, want: []string{"a.csv"}},
		{name: "--exclude-from is relative to the walked directory",
			files: []string{"rules=/secret.txt\nsub/*.bak\n", "d/secret.txt", "d/sub/secret.txt", "d/sub/a.bak", "d/sub/deeper/b.bak"},
			opts:  Options{ExcludeFrom: []string{"{root}/rules"}}, want: []string{"sub/deeper/b.bak", "sub/secret.txt"},
			excluded: map[string]string{"d/secret.txt": "--exclude-from {root}/rules, line 1: /secret.txt"}},
		{name: "a file named on the command line is taken, hidden or not", files: []string{"d/.env", "d/x.csv.swp"},
			args: []string{"d/.env", "d/x.csv.swp"}, want: []string{".env", "x.csv.swp"}},
		{name: "filters apply to named files", files: []string{"d/a.csv", "d/b.tmp"},
			args: []string{"d/a.csv", "d/b.tmp"}, opts: Options{Filters: []Filter{{Pattern: "*.tmp"}}}, want: []string{"a.csv"}},
		{name: "a glob leaves hidden names out", files: []string{"d/a.csv", "d/.b.csv"},
			args: []string{"d/*.csv"}, want: []string{"a.csv"}, excluded: map[string]string{"d/.b.csv": "hidden"}},
		{name: "a glob that names dot-files takes them", files: []string{"d/a.csv", "d/.b.csv"},
			args: []string{"d/.*.csv"}, want: []string{".b.csv"}},
		{name: "a ** glob names files below its fixed part", files: []string{"d/a/x.csv", "d/b/c/y.csv", "d/z.json", "d/.h/w.csv"},
			args: []string{"d/**/*.csv"}, want: []string{"a/x.csv", "b/c/y.csv"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files...)
			args := tc.args
			if args == nil {
				args = []string{"d"}
				tc.opts.Recursive = true
			}
			for i := range args {
				args[i] = filepath.Join(root, args[i])
			}
			for i := range tc.opts.ExcludeFrom {
				tc.opts.ExcludeFrom[i] = strings.ReplaceAll(tc.opts.ExcludeFrom[i], "{root}", root)
			}
			sel, err := Expand(args, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(sel.Files); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("files %q, want %q", got, tc.want)
			}
			ex := excludedBelow(t, root, sel.Excluded)
			for p, word := range tc.excluded {
				word = strings.ReplaceAll(word, "{root}", root)
				if !strings.Contains(ex[p], word) {
					t.Errorf("%s: reason %q, want it to say %q (all: %v)", p, ex[p], word, ex)
				}
			}
			// Every file in the tree is either taken or accounted for.
			taken := map[string]bool{}
			for _, f := range sel.Files {
				taken[f.Path] = true
			}
			filepath.WalkDir(root, func(p string, d os.DirEntry, _ error) error {
				rel, _ := filepath.Rel(root, p)
				rel = filepath.ToSlash(rel)
				if _, ok := ex[rel]; ok {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if d.IsDir() || taken[p] || d.Name() == DefaultIgnoreFileName || !strings.HasPrefix(rel, "d/") {
					return nil
				}
				if tc.args == nil {
					t.Errorf("%s neither taken nor excluded", rel)
				}
				return nil
			})
		})
	}
}

func TestExpandErrors(t *testing.T) {
	root := tree(t, "d/a.csv", "d/sub/a.csv", "e/", "f/.hidden", "g/a.tmp")
	fifo := filepath.Join(root, "fifo")
	hasFIFO := fifotest.Make(t, fifo)
	in := func(p string) string { return filepath.Join(root, p) }
	cases := []struct {
		name string
		args []string
		opts Options
		kind failure.Kind
		msg  string
	}{
		{"missing file", []string{in("nope.csv")}, Options{}, failure.NotFound, "no such file"},
		{"glob without matches", []string{in("*.xyz")}, Options{}, failure.NotFound, "no file matches"},
		{"directory without --recursive", []string{in("d")}, Options{}, failure.Usage, "pass --recursive"},
		{"FIFO", []string{fifo}, Options{}, failure.Usage, "not a regular file"},
		{"empty directory", []string{in("e")}, Options{Recursive: true}, failure.Usage, "no files found under"},
		{"only hidden files", []string{in("f")}, Options{Recursive: true}, failure.Usage, "all 1 found were excluded"},
		{"all filtered", []string{in("g")}, Options{Recursive: true, Filters: []Filter{{Pattern: "*.tmp"}}}, failure.Usage, "excluded"},
		{"same name twice", []string{in("d/a.csv"), in("d/sub/a.csv")}, Options{}, failure.Usage, "would both become resource"},
		{"standard input and files", []string{"-", in("d/a.csv")}, Options{}, failure.Usage, "only thing"},
		{"bad pattern", []string{in("d")}, Options{Recursive: true, Filters: []Filter{{Pattern: "[a-"}}}, failure.Usage, "not a valid pattern"},
		{"missing --exclude-from", []string{in("d")}, Options{Recursive: true, ExcludeFrom: []string{in("none")}}, failure.NotFound, "no such file"},
	}
	for _, tc := range cases {
		if tc.name == "FIFO" && !hasFIFO {
			continue // no named pipes here
		}
		_, err := Expand(tc.args, tc.opts)
		var fe *Error
		if !errors.As(err, &fe) || failure.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v (kind %v), want %v mentioning %q", tc.name, err, failure.KindOf(err), tc.kind, tc.msg)
		}
	}
	if os.Geteuid() != 0 { // root reads anything
		p := in("d/a.csv")
		os.Chmod(p, 0)
		if _, err := Expand([]string{p}, Options{}); failure.KindOf(err) != failure.Auth || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("unreadable: %v", err)
		}
	}
}

func TestExpandStdinAndDuplicates(t *testing.T) {
	sel, err := Expand([]string{"-"}, Options{})
	if err != nil || len(sel.Files) != 1 || sel.Files[0].Path != "-" || sel.Files[0].Size != -1 {
		t.Fatalf("%+v %v", sel, err)
	}
	root := tree(t, "a.csv")
	p := filepath.Join(root, "a.csv")
	sel, err = Expand([]string{p, p, filepath.Join(root, "*.csv")}, Options{})
	if err != nil || len(sel.Files) != 1 || sel.Files[0].Size != int64(len("a.csv")) {
		t.Fatalf("the same file three times: %+v %v", sel, err)
	}
}

func TestExpandSymlinks(t *testing.T) {
	root := tree(t, "d/a.csv", "outside/real.csv", "outside/dir/b.csv")
	if err := os.Symlink(filepath.Join(root, "outside/real.csv"), filepath.Join(root, "d/link.csv")); err != nil {
		t.Skip(err)
	}
	os.Symlink(filepath.Join(root, "outside/dir"), filepath.Join(root, "d/linked-dir"))
	sel, err := Expand([]string{filepath.Join(root, "d")}, Options{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(sel.Files); !reflect.DeepEqual(got, []string{"a.csv", "link.csv"}) {
		t.Errorf("files %q: a link to a file is followed, a link to a directory is not", got)
	}
}

func TestResourceName(t *testing.T) {
	if got := ResourceName(" tab\there\n"); got != "tab here" {
		t.Errorf("ResourceName = %q", got)
	}
}

// Two files with one resource name: the advice keeps both, and following it
// gives two resource names (issue 8, item 6).
func TestSameNameAdviceKeepsBoth(t *testing.T) {
	root := tree(t, "y2023/data.csv", "y2024/data.csv")
	_, err := Expand([]string{filepath.Join(root, "y2023/data.csv"), filepath.Join(root, "y2024/data.csv")}, Options{})
	if err == nil || !strings.Contains(err.Error(), "to keep both") || strings.Contains(err.Error(), "separate runs") {
		t.Fatalf("advice: %v", err)
	}
	for _, args := range [][]string{{root}, {filepath.Join(root, "*/data.csv")}} {
		sel, err := Expand(args, Options{Recursive: true})
		if err != nil || len(sel.Files) != 2 || sel.Files[0].Name == sel.Files[1].Name {
			t.Errorf("%v: %+v %v", args, sel, err)
		}
	}
}
