//go:build !linux

package lookup

// lowestPriority is a no-op where a thread's priority cannot be set alone.
func lowestPriority() {}
