//go:build !unix

package fifotest

import "testing"

// Make returns false and makes nothing: this system has no named pipes.
func Make(testing.TB, string) bool { return false }
