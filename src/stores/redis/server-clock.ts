/** Milliseconds from a monotonic source, on the scale of Date.now() at process start. */
export const monotonicMs = (): number => performance.timeOrigin + performance.now();

/** How long one generation of samples is trusted before older ones are dropped. */
const GENERATION_MS = 10_000;

/**
 * Estimates how far the Redis server's clock is from this process's monotonic clock, so that the
 * engine's deadline can be handed to scripts in server time. Each reply carries the server time T
 * at which the script ran, between sending (s) and receiving (r); so `offset ≥ T − r`, and the
 * largest such bound seen is a lower bound of the true offset, within one round trip of it.
 *
 * Using a lower bound errs one way only: the deadline given to the server is never later than the
 * moment the engine gives up, so a call can fail a little early (by less than the fastest round
 * trip seen) but never take effect after it was reported failed. Samples age out after 10 to 20 s
 * so that a server clock stepped back is followed.
 */
export class ServerClock {
  #current = Number.NEGATIVE_INFINITY;
  #previous = Number.NEGATIVE_INFINITY;
  #since = 0;

  /** Takes the server time of a reply (`sec`, `usec` as TIME gives them) received at `receivedMs`. */
  observe(sec: unknown, usec: unknown, receivedMs: number): void {
    const serverMs = Number(sec) * 1000 + Number(usec) / 1000;
    if (!Number.isFinite(serverMs)) return;
    const bound = serverMs - receivedMs - 1; // the server's TIME is truncated to the microsecond
    if (receivedMs - this.#since > GENERATION_MS) {
      this.#previous = this.#current;
      this.#current = Number.NEGATIVE_INFINITY;
      this.#since = receivedMs;
    }
    if (bound > this.#current) this.#current = bound;
  }

  /**
   * The server time in whole microseconds at or before the moment that this process's monotonic
   * clock reads `localMs`.
   */
  serverTimeUs(localMs: number): number {
    return Math.floor((localMs + Math.max(this.#current, this.#previous)) * 1000);
  }
}
