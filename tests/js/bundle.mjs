// Bundles a page for the browser with esbuild: node bundle.mjs <entry> <outfile>.
// Bare imports resolve from NODE_PATH (the test cache's node_modules).  Prints {"bytes": n}.
import { build } from "esbuild";

const [entry, outfile] = process.argv.slice(2);
const result = await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  format: "iife",
  jsx: "automatic",
  minify: true,
  nodePaths: [process.env.NODE_PATH],
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "error",
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).reduce((sum, out) => sum + out.bytes, 0);
console.log(JSON.stringify({ bytes }));
