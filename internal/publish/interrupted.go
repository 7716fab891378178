package publish

import (
	"context"
	"errors"
	"fmt"
)

// InterruptedError is the error of a file whose work the run's cancellation
// (Ctrl-C, SIGTERM) stopped; its Record has Status "interrupted". It says what
// became of the file's upload instead of "context canceled". Err is the
// cause: errors.Is(err, context.Canceled) holds, so its kind stays
// failure.Interrupted (exit 130).
type InterruptedError struct {
	// Started is false for a file whose upload never began.
	Started bool
	Err     error
}

func (e *InterruptedError) Error() string {
	if !e.Started {
		return "interrupted before its upload began: nothing was sent or registered; run the same command again to upload it"
	}
	if me, ok := errorsAsMultipart(e.Err); ok {
		switch {
		case me.Aborted:
			return fmt.Sprintf("the upload was interrupted; multipart upload %s was aborted (--no-resume), so a new run starts again", me.UploadID)
		case me.AbortErr == nil:
			return fmt.Sprintf("the upload was interrupted; multipart upload %s is kept, and running the same command again resumes it", me.UploadID)
		}
		return fmt.Sprintf("the upload was interrupted: %v", e.Err) // the abort failed: say how to abort by hand
	}
	return "the upload was interrupted before the file was registered; run the same command again to finish it"
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// interrupted returns err as an *InterruptedError when it is the run's
// cancellation (errors.Is context.Canceled), else err unchanged. A hint err
// carries (the resume command) stays in the chain, where hint.Of finds it.
func interrupted(err error, started bool) error {
	if err == nil || !errors.Is(err, context.Canceled) {
		return err
	}
	var ie *InterruptedError
	if errors.As(err, &ie) {
		return err
	}
	return &InterruptedError{Started: started, Err: err}
}
