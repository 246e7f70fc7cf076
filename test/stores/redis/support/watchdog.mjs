// Runs a throwaway redis-server for the fault-injection tests, and makes sure it dies with the test:
// SIGTERM here kills the server at once (a crash, not a shutdown), and so does the test process
// going away without cleaning up. Usage: node watchdog.mjs <port> [more redis-server options…]
import { spawn } from "node:child_process";

const [port, ...more] = process.argv.slice(2);
const server = spawn(
  "redis-server",
  ["--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", ...more],
  { stdio: "ignore" },
);
const parent = process.ppid;
const kill = () => server.kill("SIGKILL");
process.on("SIGTERM", kill);
process.on("SIGINT", kill);
server.on("exit", () => process.exit(0));
setInterval(() => {
  try {
    process.kill(parent, 0);
  } catch {
    kill();
  }
}, 250);
