// Package hint attaches what a person should do next to an error, so that the
// command line can print it beside the error without parsing messages (the
// "Err + Recommendation" shape of oras's cmd/oras/internal/errors).
package hint

import "errors"

// Error is an error with a recommendation for the person running ckanup.
type Error struct {
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// With returns err carrying hint; a nil err stays nil.
func With(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, Hint: hint}
}

// Of returns the outermost hint in err's chain ("" when there is none).
func Of(err error) string {
	var he *Error
	if errors.As(err, &he) {
		return he.Hint
	}
	return ""
}
