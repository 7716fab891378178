package ckan

import (
	"errors"
	"strings"
)

// IsResourceAbsent reports whether err is resource_show's answer for an id no
// resource holds: a Not Found Error with CKAN's plain "Not found". CKAN ≥ 2.9
// answers "Resource was not found." for a resource that still exists in the
// database but is deleted (its dataset no longer lists it): that id is not
// free, since resource_create with it would bring the old resource back.
func IsResourceAbsent(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) || !IsNotFound(err) {
		return false
	}
	return !strings.Contains(strings.ToLower(ae.Message), "resource was not found")
}
