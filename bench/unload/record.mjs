// Slots of the record the C bench module writes (native/bench_module.c, enum R_*).
export const REC = Object.freeze({
  LAST_NS: 0, // CLOCK_MONOTONIC ns at the end of the module's last callback
  LAST_LOOP: 1, // libuv loop_count then
  ACKED: 2, // commits whose fsync completed
  CONNECTED: 3, // connections made
  ACCEPTED: 4, // connections accepted
  HANDLES: 5, // live handles at the last callback
  ERROR: 6, // first error (positive errno), 0 if none
  P: 7, // commits pending at cleanup
  FLUSH_NS: 8, // blocking mode: duration of the synchronous flush
  CALLBACKS: 9, // callbacks noted
  STATE: 10, // 1 loaded, 2 cleaning, 3 freed
  REQUESTS: 11, // requests in flight at the last callback
  MADE: 12, // handles made by init
  CLEANUP_NS: 13, // CLOCK_MONOTONIC ns at the end of cleanup
  CLEANUP_CPU_US: 14, // getrusage(RUSAGE_SELF) user+system µs then
  LATER: 15, // paced mode: continuations (continue_later) that ran; 0 when unpaced
});
