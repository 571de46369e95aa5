import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// A plain Vite + Svelte 5 single-page app, served by appreg under /console/.
// The output is committed and rebuilt by CI, so it must be the same bytes for
// the same input: content-hashed names, no timestamps, no source maps.
export default defineConfig({
  base: "/console/",
  plugins: [svelte()],
  build: {
    outDir: "build",
    emptyOutDir: true,
    sourcemap: false,
    target: "es2022",
    // The polyfill is for browsers without <link rel=modulepreload>; every
    // browser the console supports has it, and it would add bytes.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      "^/(applications|admin|me|console-config|openapi\\.json)": "http://127.0.0.1:8080",
    },
  },
});
