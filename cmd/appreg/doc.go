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
// At that limit a saturating lookup load still starts a cycle about once a second (a
// lookup allocates about 3 KB, two thirds of it in net/http; 36 MB live, a heap goal of 150
// MB), and those cycles are most of the lookup path's paced p99 above the bare handler's.
// A replica given more memory should raise both: with `APPREG_MEMORY_LIMIT=1GiB` and
// `GOGC=1600` the collector ran every 10 s, and the lookup's paced p99 fell from 1.9-3.7 ms
// to 1.3-1.4 ms on 2 cores (scripts/BENCHMARKS.md, issue 15, eleventh round).
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
