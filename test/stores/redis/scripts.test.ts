/**
 * The Lua scripts and the Redis Functions library RedisStore runs, pinned by their SHA-1: any change to their text (a named part
 * under src/stores/redis/lua/ included) fails here until the new hash is written down, so every
 * script change is a deliberate diff — and a change meant to be text-only (a refactor of how the
 * parts are assembled) proves it leaves the script the server runs as it was.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { LIBRARY, SCRIPTS } from "../../../src/stores/redis/scripts.js";

describe("RedisStore scripts", () => {
  it("are the scripts whose SHA-1s are pinned here", () => {
    const hashes = Object.fromEntries(Object.entries(SCRIPTS).map(([name, script]) => [name, script.sha1]));
    expect(hashes).toEqual({
      batch: "f146be68a8b00b36536c796247bdfe2e4482480e",
      scanDelete: "fde02190a3c0f6d27acc20246cc35f7c7d40dc1c",
      scan: "fcbee052458f2795b8557cae0124efe95ae3d5d6",
      layout: "e92cc419af5796eb073b34b9bdbe623b4989bb50",
      unclaim: "c0fe86dca9a7825a3e95860568351409cafd1294",
    });
  });

  it("load the batch as a library pinned here, named by the hash of its code", () => {
    expect(LIBRARY.sha1).toBe("0c5b1980900f349275c8c4de2381c1b607191514");
    expect(LIBRARY.sha1).toBe(createHash("sha1").update(LIBRARY.source).digest("hex"));
    expect(LIBRARY.name).toBe("budgetgate_e02ab6b67d902952");
    expect(LIBRARY.batch).toBe("budgetgate_batch_e02ab6b67d902952");
    expect(LIBRARY.source.startsWith(`#!lua name=${LIBRARY.name}\n`)).toBe(true);
  });

  it("call each script by the SHA-1 of the text they would send in its place", () => {
    for (const script of Object.values(SCRIPTS)) {
      expect(createHash("sha1").update(script.source).digest("hex")).toBe(script.sha1);
    }
  });
});
