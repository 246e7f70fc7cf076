/** Helpers shared by the Redis store tests. */
import { randomUUID } from "node:crypto";
import type { StoreCall } from "../../../../src/store.js";

/** A StoreCall for calling a store directly, outside an engine. */
export function directCall(timeoutMs = 10_000, now?: number): StoreCall {
  return { now, timeoutMs, deadline: Date.now() + timeoutMs, signal: new AbortController().signal };
}

/** A prefix no other run uses, so that tests share a server without meeting. */
export function uniquePrefix(name: string): string {
  return `bgtest:${name}:${randomUUID().slice(0, 8)}:`;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The hash tag Redis Cluster would hash for `key`: the text between the first `{` and the first
 * `}` after it, if not empty; else the whole key.
 */
export function clusterHashTag(key: string): string {
  const open = key.indexOf("{");
  if (open === -1) return key;
  const close = key.indexOf("}", open + 1);
  if (close === -1 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

/** Waits until `check` returns true, polling every 20 ms, or throws after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
}
