/**
 * The page's static files (src/ui/assets/: index.html, app.css, app.js, icon.svg). `npm run build`
 * copies them next to this module (dist/src/ui/assets/) and inlines them into the esbuild bundle
 * (scripts/bundle.ts defines __TCRANE_UI_ASSETS__), so they are found from dist/src, dist/cli and
 * the bundle alike; a tsc-only build falls back to the source tree. Read once, kept in memory.
 */
import { readFile } from "node:fs/promises";
import { TcraneError } from "../errors.js";

/** Asset file names and their content types. */
export const UI_ASSET_TYPES: Readonly<Record<string, string>> = {
  "index.html": "text/html; charset=utf-8",
  "app.css": "text/css; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "icon.svg": "image/svg+xml",
};

/** In the bundle: the files as one JSON string (scripts/bundle.ts). */
declare const __TCRANE_UI_ASSETS__: string | undefined;

let loaded: Promise<Record<string, string>> | undefined;

async function readAssets(): Promise<Record<string, string>> {
  if (typeof __TCRANE_UI_ASSETS__ === "string") return JSON.parse(__TCRANE_UI_ASSETS__) as Record<string, string>;
  const dirs = [new URL("./assets/", import.meta.url), new URL("../../../src/ui/assets/", import.meta.url)];
  let lastErr: unknown;
  for (const dir of dirs) {
    try {
      const out: Record<string, string> = {};
      for (const name of Object.keys(UI_ASSET_TYPES)) out[name] = await readFile(new URL(name, dir), "utf8");
      return out;
    } catch (err) {
      lastErr = err;
    }
  }
  throw new TcraneError("IO", "the web page's files are missing from this installation", { what: "src/ui/assets", cause: lastErr });
}

/** The page's files by name (index.html, app.css, app.js, icon.svg). */
export function uiAssets(): Promise<Record<string, string>> {
  loaded ??= readAssets().catch((err: unknown) => {
    loaded = undefined;
    throw err;
  });
  return loaded;
}
