package server

import (
	"errors"
	"strings"
)

// FieldError names one offending field of a request and says what is wrong
// with it. Field is a path into the request body ("redirects[1]"), or the name
// of a parameter or header.
type FieldError struct {
	Field  string
	Reason string
}

// ValidationError collects every field error of one request, so a caller
// fixes them all at once rather than one per round trip.
type ValidationError struct {
	Fields []FieldError
}

// Add records that field is wrong for reason.
func (e *ValidationError) Add(field, reason string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Reason: reason})
}

// Err returns e when it holds at least one field error, nil otherwise.
func (e *ValidationError) Err() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Reason
	}
	return strings.Join(parts, "; ")
}

// invalid returns a ValidationError with one field error.
func invalid(field, reason string) error {
	return &ValidationError{Fields: []FieldError{{Field: field, Reason: reason}}}
}

// Domain errors the handlers return; the HTTP error handler maps each to its
// status and machine code.
var (
	ErrNotFound           = errors.New("no application with this id exists in your tenant")
	ErrLocked             = errors.New("the application's deletion is scheduled; enable it first to cancel the deletion")
	ErrTenancyNotPending  = errors.New("the application has no pending all-tenant approval")
	ErrIDTaken            = errors.New("an application with this id already exists")
	ErrPreconditionFailed = errors.New("the application changed since the ETag in If-Match")
)
