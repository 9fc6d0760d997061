package jose

import (
	"errors"
	"strings"
)

// Reason returns the human part of an error from this package, without the
// sentinel's own text, for messages like "token is malformed: <reason>".
func Reason(err error) string {
	msg := err.Error()
	for _, s := range []error{ErrMalformed, ErrTooLarge, ErrAlgorithm, ErrUnknownKey, ErrSignature} {
		if errors.Is(err, s) {
			return strings.TrimPrefix(msg, s.Error()+": ")
		}
	}
	return msg
}
