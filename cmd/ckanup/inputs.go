package main

import "github.com/ckanup/ckanup/internal/fileset"

// inputFile is one local file to upload (see internal/fileset for how the
// command's arguments are expanded).
type inputFile = fileset.File
