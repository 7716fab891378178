package main

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/ckanup/ckanup/internal/config"
	"github.com/spf13/cobra"
)

// completionTimeout bounds a CKAN lookup made while completing a word: a slow or
// unreachable site must not hang the shell.
const completionTimeout = 2 * time.Second

// registerCompletions adds value completion to the flags of every command: the
// values of --output, dataset names from CKAN for --dataset, and the saved
// profile names for --profile.
func registerCompletions(root *cobra.Command, deps *Deps, g *GlobalOptions) {
	_ = root.RegisterFlagCompletionFunc("profile", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		dir, err := config.Dir(deps.Getenv)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		f, err := config.Load(dir)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return f.Names(), cobra.ShellCompDirectiveNoFileComp
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if f := c.LocalFlags().Lookup("output"); f != nil {
			_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputValues(f.Usage), cobra.ShellCompDirectiveNoFileComp))
		}
		if c.LocalFlags().Lookup("dataset") != nil {
			_ = c.RegisterFlagCompletionFunc("dataset", func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
				return completeDatasets(cmd.Context(), deps, g, toComplete), cobra.ShellCompDirectiveNoFileComp
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// outputValues are the --output values: those the flag's help names, else text
// and json.
func outputValues(usage string) []string {
	var vals []string
	for _, v := range []string{"text", "json", "ndjson", "table", "yaml"} {
		if strings.Contains(usage, v) {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		vals = []string{"text", "json"}
	}
	return vals
}

// completeDatasets asks CKAN for the names of datasets starting with (or, for
// package_autocomplete, containing) prefix, within completionTimeout. Any
// failure gives no candidates and prints nothing.
func completeDatasets(ctx context.Context, deps *Deps, g *GlobalOptions, prefix string) []string {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	quiet := *deps
	quiet.Stderr = io.Discard
	s, err := resolveCKAN(&quiet, g)
	if err != nil {
		return nil
	}
	c, err := s.client(&quiet, &GlobalOptions{})
	if err != nil {
		return nil
	}
	c.MaxAttempts = 1
	var names []string
	if prefix == "" {
		names, _ = c.PackageList(ctx, 100)
	} else {
		ms, _ := c.PackageAutocomplete(ctx, prefix, 20)
		for _, m := range ms {
			if m.Title != "" {
				names = append(names, m.Name+"\t"+m.Title)
			} else {
				names = append(names, m.Name)
			}
		}
	}
	return names
}
