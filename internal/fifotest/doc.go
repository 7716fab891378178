// Package fifotest makes named pipes (FIFOs) for tests of how ckanup treats
// files it must not read as regular files, on the systems that have them.
package fifotest
