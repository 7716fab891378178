package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// The hidden gen-docs command writes what is generated from the command tree:
// the markdown reference kept in docs/reference/ (a test checks it is up to
// date), and the man pages and shell completions the release archives and
// packages ship (.goreleaser.yaml runs it before building).

// regenerateReference is the command that rewrites docs/reference/, quoted by
// the test that finds it stale.
const regenerateReference = "go run ./cmd/ckanup gen-docs --markdown docs/reference"

type genDocsOptions struct {
	Markdown    string // directory for one markdown file per command
	Man         string // directory for gzipped man pages, section 1
	Completions string // directory for bash, zsh, fish and PowerShell completions
	// Date is the date printed in the man pages (--date, SOURCE_DATE_EPOCH, else now).
	Date time.Time
}

func newGenDocsCmd(deps *Deps) *cobra.Command {
	o := &genDocsOptions{}
	var dateFlag string
	cmd := &cobra.Command{
		Use:    "gen-docs",
		Short:  "Write the markdown reference, man pages and shell completions",
		Hidden: true,
		Long: `Write what is generated from ckanup's commands and flags:

  --markdown DIR      one markdown page per command (docs/reference/ in the repository)
  --man DIR           man pages, section 1, gzipped (ckanup.1.gz, ckanup-upload.1.gz, …)
  --completions DIR   ckanup.bash, _ckanup (zsh), ckanup.fish, ckanup.ps1

The man pages are dated --date (seconds since 1970; .goreleaser.yaml passes
the commit's time), else SOURCE_DATE_EPOCH, else today.`,
		Example: "  " + regenerateReference,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Markdown == "" && o.Man == "" && o.Completions == "" {
				return usageErrorf("give at least one of --markdown, --man and --completions")
			}
			epoch, from := dateFlag, "--date"
			if epoch == "" {
				epoch, from = deps.Getenv("SOURCE_DATE_EPOCH"), "SOURCE_DATE_EPOCH"
			}
			if epoch != "" {
				sec, err := strconv.ParseInt(epoch, 10, 64)
				if err != nil {
					return usageErrorf("%s %q is not a number of seconds since 1970", from, epoch)
				}
				o.Date = time.Unix(sec, 0).UTC()
			} else {
				o.Date = deps.Now()
			}
			return runGenDocs(o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Markdown, "markdown", "", "write the markdown reference into this directory")
	f.StringVar(&o.Man, "man", "", "write gzipped man pages into this directory")
	f.StringVar(&o.Completions, "completions", "", "write shell completion scripts into this directory")
	f.StringVar(&dateFlag, "date", "", "date of the man pages, in seconds since 1970 (default SOURCE_DATE_EPOCH, else now)")
	return cmd
}

// docsRoot builds the command tree as a person sees it, independent of the
// environment of the process that generates the documents.
func docsRoot() *cobra.Command {
	deps := DefaultDeps()
	deps.Getenv = func(string) string { return "" }
	deps.Stdout, deps.Stderr = io.Discard, io.Discard
	root := newRootCmd(deps, nil)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.InitDefaultVersionFlag()
	root.DisableAutoGenTag = true // no "Auto generated … on <date>" line: the reference is compared byte for byte
	return root
}

func runGenDocs(o *genDocsOptions) error {
	if o.Markdown != "" {
		if err := genMarkdown(docsRoot(), o.Markdown); err != nil {
			return err
		}
	}
	if o.Man != "" {
		if err := genMan(docsRoot(), o.Man, o.Date); err != nil {
			return err
		}
	}
	if o.Completions != "" {
		if err := genCompletions(docsRoot(), o.Completions); err != nil {
			return err
		}
	}
	return nil
}

// genMarkdown writes one page per command (ckanup.md, ckanup_upload.md, …),
// removing pages of commands that no longer exist.
func genMarkdown(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("markdown reference: %w", err)
	}
	old, err := filepath.Glob(filepath.Join(dir, "ckanup*.md"))
	if err != nil {
		return fmt.Errorf("markdown reference: %w", err)
	}
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("markdown reference: %w", err)
		}
	}
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		return fmt.Errorf("markdown reference in %s: %w", dir, err)
	}
	return nil
}

// genMan writes gzipped man pages: ckanup.1.gz and one per command
// (ckanup-upload.1.gz, ckanup-uploads-list.1.gz, …), removing pages of
// commands that no longer exist.
func genMan(root *cobra.Command, dir string, date time.Time) error {
	tmp, err := os.MkdirTemp("", "ckanup-man-")
	if err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	defer os.RemoveAll(tmp)
	escapeForMan(root)
	header := &doc.GenManHeader{Title: "CKANUP", Section: "1", Source: "ckanup", Manual: "ckanup manual", Date: &date}
	if err := doc.GenManTree(root, header, tmp); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	old, err := filepath.Glob(filepath.Join(dir, "ckanup*.1.gz"))
	if err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("man pages: %w", err)
		}
	}
	pages, err := filepath.Glob(filepath.Join(tmp, "*.1"))
	if err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	if len(pages) == 0 {
		return errors.New("man pages: cobra wrote none")
	}
	for _, p := range pages {
		src, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("man pages: %w", err)
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid; the header carries no name or time
		if _, err := zw.Write(src); err != nil {
			return fmt.Errorf("man pages: %w", err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("man pages: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)+".gz"), buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("man pages: %w", err)
		}
	}
	return nil
}

// escapeForMan protects text that the man page converter (go-md2man, which
// reads the long help as markdown) would take for HTML: "<dataset id>" would
// vanish from the page.
func escapeForMan(c *cobra.Command) {
	c.Long = strings.ReplaceAll(c.Long, "<", `\<`)
	for _, sub := range c.Commands() {
		escapeForMan(sub)
	}
}

// genCompletions writes the completion scripts under the names the shells'
// completion directories expect.
func genCompletions(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("completions: %w", err)
	}
	for _, c := range []struct {
		name string
		gen  func(io.Writer) error
	}{
		{"ckanup.bash", func(w io.Writer) error { return root.GenBashCompletionV2(w, true) }},
		{"_ckanup", root.GenZshCompletion},
		{"ckanup.fish", func(w io.Writer) error { return root.GenFishCompletion(w, true) }},
		{"ckanup.ps1", root.GenPowerShellCompletionWithDesc},
	} {
		var buf bytes.Buffer
		if err := c.gen(&buf); err != nil {
			return fmt.Errorf("completions: %s: %w", c.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.name), buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("completions: %w", err)
		}
	}
	return nil
}
