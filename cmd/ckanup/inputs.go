package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// inputFile is one local file to upload.
type inputFile struct {
	Path string // as found on disk
	Name string // resource name: the file name, or its path below a walked directory
	Size int64
}

// collectFiles expands the command's arguments: files, globs, and (with
// recursive) directories. Symbolic links to files are followed; a walk does not
// descend into symbolic links to directories. Devices, FIFOs and sockets are refused.
func collectFiles(args []string, recursive bool) ([]inputFile, error) {
	var out []inputFile
	seen := map[string]bool{}
	add := func(path, name string, fi fs.FileInfo) error {
		if !fi.Mode().IsRegular() {
			return usageErrorf("%s is not a regular file (devices, FIFOs and sockets cannot be uploaded)", path)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		if seen[abs] {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return usageErrorf("cannot read %s: %v", path, cause(err))
		}
		f.Close()
		seen[abs] = true
		out = append(out, inputFile{Path: path, Name: name, Size: fi.Size()})
		return nil
	}
	for _, arg := range args {
		if arg == "-" {
			if len(args) != 1 {
				return nil, usageErrorf("standard input (-) must be the only thing to upload")
			}
			return []inputFile{{Path: "-", Size: -1}}, nil
		}
		paths := []string{arg}
		if _, err := os.Lstat(arg); errors.Is(err, fs.ErrNotExist) && strings.ContainsAny(arg, "*?[") {
			m, gerr := filepath.Glob(arg)
			if gerr != nil {
				return nil, usageErrorf("bad pattern %q: %v", arg, gerr)
			}
			if len(m) == 0 {
				return nil, usageErrorf("no file matches %q", arg)
			}
			paths = m
		}
		for _, p := range paths {
			fi, err := os.Stat(p)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, usageErrorf("no such file: %s", p)
			}
			if err != nil {
				return nil, usageErrorf("cannot read %s: %v", p, cause(err))
			}
			if !fi.IsDir() {
				if err := add(p, resourceName(filepath.Base(p)), fi); err != nil {
					return nil, err
				}
				continue
			}
			if !recursive {
				return nil, usageErrorf("%s is a directory: pass --recursive (-r) to upload the files in it", p)
			}
			before := len(out)
			err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return usageErrorf("cannot read %s: %v", path, cause(err))
				}
				if d.IsDir() {
					return nil
				}
				fi, err := os.Stat(path) // follows a symlink to a file
				if err != nil {
					return usageErrorf("cannot read %s: %v", path, cause(err))
				}
				if fi.IsDir() {
					return nil // symlink to a directory: not followed
				}
				rel, err := filepath.Rel(p, path)
				if err != nil {
					return err
				}
				return add(path, resourceName(filepath.ToSlash(rel)), fi)
			})
			if err != nil {
				return nil, err
			}
			if len(out) == before {
				return nil, usageErrorf("no files found under %s", p)
			}
		}
	}
	if len(out) == 0 {
		return nil, usageErrorf("no files to upload")
	}
	names := map[string]string{}
	for _, f := range out {
		if prev, dup := names[f.Name]; dup {
			return nil, usageErrorf("%s and %s would both become resource %q: upload them in separate runs or rename one", prev, f.Path, f.Name)
		}
		names[f.Name] = f.Path
	}
	return out, nil
}

// resourceName makes a file name fit to show as a resource name: control
// characters (a newline in a file name, say) become spaces, and it is trimmed.
func resourceName(name string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, name))
}

// cause drops the path from an *fs.PathError (the caller names the file).
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
