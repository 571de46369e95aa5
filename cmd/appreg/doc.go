// Command appreg is the application registration service:
//
//	appreg serve     run the API (and the purger)
//	appreg migrate   apply database migrations and exit
//	appreg purge     delete the applications due for deletion, once, and exit
//	appreg token     print a development token
//	appreg version   print the version
//
// # Garbage collection
//
// `serve` runs the collector at `GOGC=400` (unless `GOGC` is set)
// under the soft memory limit (`APPREG_MEMORY_LIMIT`, 200 MiB): the live heap is small and
// every request allocates, so at the default the collector ran many times a second; the
// limit, not GOGC, bounds the heap (peak RSS 216 MiB with 1,000,000 applications). It raised
// viewApplication by about 8% and lowered the lookup path's p99 at 5,000 requests/s from
// about 4.2 ms to 2.6 ms.
//
// # Profiling
//
// `--debug-addr` (`APPREG_DEBUG_ADDR`, off by default) serves Go's
// `/debug/pprof` on a listener of its own, never on the API's address; `BENCH_PROFILE=1
// make bench` takes a CPU profile of every load through it.
//
// # Migrations
//
// Migrations are embedded in the binary and applied by `appreg migrate` and at `serve` start
// (under an advisory lock, so replicas starting together do not race). Any number of
// stateless replicas can share one database: the purger and the lookup caches coordinate
// through it (see below).
package main
