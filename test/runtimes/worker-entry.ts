// The module a workerd (miniflare) Worker runs: every portable check, answered as JSON.
import { runPortableChecks } from "./portable.js";

export default {
  async fetch(): Promise<Response> {
    return Response.json(await runPortableChecks());
  },
};
