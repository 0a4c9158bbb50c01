// A clock that every process on this machine reads alike, so that a time taken in the load client and one taken in the sink can be subtracted.

/**
 * Milliseconds on the monotonic clock libuv reads (CLOCK_MONOTONIC on Linux, mach_absolute_time on
 * macOS): one clock for the whole machine, unlike `performance.now()`, whose origin is each
 * process's start, and unlike `Date.now()`, which steps when the wall clock is set.
 */
export function sharedClockMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * Wall-clock (epoch) milliseconds minus shared-clock milliseconds, now: add it to a shared-clock time
 * to get a wall-clock one, subtract it from a file's mtime to get a shared-clock one.
 */
export function wallMinusSharedMs(): number {
  return performance.timeOrigin + performance.now() - sharedClockMs();
}
