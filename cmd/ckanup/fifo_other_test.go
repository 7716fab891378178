//go:build !unix

package main

import "testing"

// makeFIFO makes a named pipe at path; it reports false where there are none.
func makeFIFO(*testing.T, string) bool { return false }
