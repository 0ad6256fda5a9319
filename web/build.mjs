// Bundle the browser code into app/static/dist, served by Flask at /static/dist/.
// Every script a page loads comes from here: nothing is fetched from another host.
import { build } from "esbuild";
import { existsSync } from "node:fs";

// Each client's entry point and the file it becomes. Add a client here, and nowhere else.
const ENTRIES = {
  console: "src/console/main.js",
  app: "src/app/main.js",
  sw: "src/app/sw.js",
};

const present = Object.fromEntries(Object.entries(ENTRIES).filter(([, src]) => existsSync(src)));
await build({
  entryPoints: present,
  outdir: "../app/static/dist",
  bundle: true,
  format: "esm",
  target: ["chrome100", "safari15"],
  sourcemap: true,
  minify: true,
  logLevel: "warning",
});
