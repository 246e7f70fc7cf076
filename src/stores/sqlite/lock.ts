/**
 * Waiting for SQLite's write lock without outliving the engine's deadline.
 *
 * better-sqlite3 is synchronous: while a call waits for a lock the event loop is blocked, so the
 * engine's timer cannot fire. The wait is therefore bounded here, by the call's own deadline.
 * SQLite's built-in busy handler sleeps 1, 2, 5, … up to 100 ms between attempts, which starves a
 * waiter when other processes hold the lock most of the time; short jittered sleeps keep the
 * processes sharing a file close to fair.
 */
import { resultCode } from "./driver.js";

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread for `ms` milliseconds (fractions allowed). */
export function pause(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * True for SQLITE_BUSY and its extended codes: the lock is held by another connection. Each driver
 * says so its own way: better-sqlite3 and bun:sqlite by a `code` "SQLITE_BUSY…", Node's node:sqlite
 * by an `errcode` whose low byte is 5, Deno's node:sqlite by SQLite's message alone.
 */
export function isBusy(error: unknown): boolean {
  const code = resultCode(error);
  if (code !== null) return code.startsWith("SQLITE_BUSY");
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === "string" && /^database is locked\b/.test(message);
}

/** First pause after a busy answer, in ms; it grows ×1.5 per attempt up to {@link MAX_PAUSE_MS}. */
const FIRST_PAUSE_MS = 0.1;
const MAX_PAUSE_MS = 4;

/**
 * Runs `attempt` (an immediate transaction) until it gets the write lock, pausing between busy
 * answers, and gives up once `deadline` (a `Date.now()` value) has passed.
 *
 * @throws the error of the last attempt — SQLITE_BUSY when the lock never came — or whatever
 * `attempt` throws for any other reason, at once. Only a busy answer is retried: the transaction it
 * ended was rolled back, so a retry never applies a change twice.
 */
export function withWriteLock<T>(attempt: () => T, deadline: number): T {
  let wait = FIRST_PAUSE_MS;
  for (;;) {
    try {
      return attempt();
    } catch (error) {
      if (!isBusy(error)) throw error;
      const left = deadline - Date.now();
      if (left <= 0) throw error;
      pause(Math.min(left, wait * (0.5 + Math.random())));
      wait = Math.min(MAX_PAUSE_MS, wait * 1.5);
    }
  }
}
