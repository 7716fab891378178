// Package fsutil holds the file-system helpers that state files need: atomic
// replacement and private directories.
package fsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// XDGDir is $<envVar>/ckanup, or ~/<homeRel>/ckanup when envVar is unset
// (XDG_CONFIG_HOME → .config, XDG_STATE_HOME → .local/state).
func XDGDir(getenv func(string) string, envVar, homeRel string) (string, error) {
	if d := getenv(envVar); d != "" {
		return filepath.Join(d, "ckanup"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", errors.New("cannot find a home directory: set " + envVar + " or HOME")
		}
	}
	return filepath.Join(home, homeRel, "ckanup"), nil
}

// WriteFileAtomic replaces path with data (mode 0600) so that a crash or power
// cut at any instant leaves either the old or the new content: temporary file,
// fsync, rename, fsync of the directory.
func WriteFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// PrivateDir creates dir (and parents) and makes it 0700.
func PrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("make %s private: %w", dir, err)
	}
	return nil
}
