/**
 * A source of time in seconds. Give an engine one to make every store decide by it (tests, replays);
 * without one, each store uses its own: monotonic in-process, the server's clock when shared.
 *
 * @example
 * let t = 0;
 * const engine = new Engine({ clock: () => t });
 * t += 3600; // an hour later
 */
export type Clock = () => number;

/** Seconds from a monotonic source: immune to wall-clock jumps, meaningful only within one process. */
export const monotonicClock: Clock = () => performance.now() / 1000;
