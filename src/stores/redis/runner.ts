/**
 * How a batch reaches the server: as FCALL of the store's Redis Functions library where the server
 * and client allow it, else as EVALSHA of the batch script (EVAL when the server has not cached
 * it). The library's definitions run once on the server, where a script's run on every call: on a
 * lone charge that is about half of the server's work (docs/benchmarks.md).
 *
 * Which one is decided once per store, on the first call, from how the server answers: a server
 * without the library gets it loaded and the call made again; a server that refuses functions
 * (Redis before 7, an ACL or a managed Redis that forbids FUNCTION or FCALL, a proxy that does not
 * know them) turns the store to scripts for good. Each of those answers comes before anything ran,
 * so sending the batch again cannot apply it twice.
 */
import type { ScriptClient } from "./driver.js";
import { LIBRARY, SCRIPTS } from "./scripts.js";

/** How a batch is sent: FCALL, EVALSHA, or EVAL with the script's text. */
type Way = "fcall" | "evalsha" | "eval";

/** The keys and arguments of a batch; undefined when none of its operations is still wanted. */
export type BatchCall = readonly [keys: readonly string[], args: readonly string[]] | undefined;

/** Sends batches by FCALL or by script, as the server allows (see the module's comment). */
export class BatchRunner {
  readonly #client: ScriptClient;
  #functions: boolean;
  #loading: Promise<Way> | undefined;

  /** `functions`: try Redis Functions at all (the client must also offer fcall and loadLibrary). */
  constructor(client: ScriptClient, functions: boolean) {
    this.#client = client;
    this.#functions = functions && typeof client.fcall === "function" && typeof client.loadLibrary === "function";
  }

  /** True while batches go by FCALL; false once the store has turned to scripts. */
  get functions(): boolean {
    return this.#functions;
  }

  /**
   * Sends a batch and resolves to the server's reply. `build` makes its keys and arguments: with
   * `again` true when an earlier attempt did not run (so that it can leave out the operations given
   * up on meanwhile), answering undefined if none is left (then this resolves to undefined).
   * @throws what the server or client answered otherwise: the batch may have run.
   */
  async run(build: (again: boolean) => BatchCall): Promise<unknown> {
    let way: Way = this.#functions ? "fcall" : "evalsha";
    let loaded = false;
    let call = build(false);
    for (;;) {
      if (call === undefined) return undefined;
      const [keys, args] = call;
      try {
        if (way === "fcall")
          return await (this.#client.fcall as NonNullable<ScriptClient["fcall"]>)(LIBRARY.batch, keys, args);
        if (way === "evalsha") return await this.#client.evalSha(SCRIPTS.batch.sha1, keys, args);
        return await this.#client.evalSource(SCRIPTS.batch.source, keys, args);
      } catch (error) {
        if (way === "evalsha" && messageOf(error).includes("NOSCRIPT")) {
          // The server lost its script cache (a restart), so nothing ran.
          way = "eval";
        } else if (way === "fcall" && refusesFunctions(error)) {
          way = this.#toScripts();
        } else if (way === "fcall" && messageOf(error).startsWith("ERR Function not found")) {
          // A second miss right after loading: something between us and the server drops it.
          way = loaded ? this.#toScripts() : await this.#load();
          loaded = true;
        } else {
          throw error;
        }
      }
      call = build(true);
    }
  }

  /**
   * Loads the library; on a refusal, turns to scripts. Answers how to send the batch now. Batches
   * that miss it together (all of them, after a restart) share one load.
   */
  #load(): Promise<Way> {
    this.#loading ??= this.#loadOnce().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #loadOnce(): Promise<Way> {
    try {
      await (this.#client.loadLibrary as NonNullable<ScriptClient["loadLibrary"]>)(LIBRARY.source);
      return "fcall";
    } catch (error) {
      // The server answered (an error reply, not a lost connection): it will not load this library.
      if (/^(ERR|NOPERM)/.test(messageOf(error))) return this.#toScripts();
      throw error;
    }
  }

  #toScripts(): Way {
    this.#functions = false;
    return "evalsha";
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A refusal of FCALL itself, before anything ran: an unknown command, or one the user may not run. */
function refusesFunctions(error: unknown): boolean {
  return /^(ERR unknown command|NOPERM|ERR unknown subcommand)/i.test(messageOf(error));
}
