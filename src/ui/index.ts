/**
 * The web page for what a registry holds: served by `tcrane registry serve` at `/` (over its
 * store) and by `tcrane browse` (over tcrane's client), from the same views and JSON API.
 */
export { storeSource, clientSource, type UiSource, type UiManifest } from "./source.js";
export {
  UiViews,
  type TagSummary,
  type ManifestView,
  type UiDescriptor,
  type UiConfig,
  type UiHistory,
  type UiReferrer,
  type UiDigestTag,
  type LayerFiles,
  type LayerInfo,
  type LayerEntry,
} from "./views.js";
export { uiHandler, type UiHandler, type UiHandlerOptions } from "./http.js";
export { uiAssets } from "./assets.js";
export { startBrowse, type BrowseOptions, type RunningBrowse } from "./browse.js";
