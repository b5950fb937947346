/**
 * crane's editing operations (append, mutate, flatten, rebase, index list/filter/append) and the
 * pieces they are built from, for library users.
 */
export * from "./ops.js";
export { EditSource, mountingSink } from "./edit-source.js";
export { layerFromFile, layerFromStream, type BuiltLayer, type LayerOptions } from "./layer.js";
export {
  editRoot,
  emptyImage,
  emptyIndex,
  readImage,
  readIndex,
  writeImage,
  configPlatform,
  isPlatformImage,
  type EditableImage,
  type ImageEditFn,
  type EditRootOptions,
  type EditedRoot,
} from "./image.js";
export { appendLayers, mutateConfig, annotate, flattenImage, rebaseImage, type ConfigChanges, type BaseImage } from "./image-edit.js";
export { parsePlatformPatterns, platformSatisfies, filterIndex, listIndex, descriptorsToAppend, type PlatformPattern, type IndexEntry } from "./index-edit.js";
export { stringSlice, keyValues } from "./args.js";
