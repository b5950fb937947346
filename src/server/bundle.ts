/**
 * Open a `--from` bundle: an OCI layout directory (read here) or an archive. Archives are read
 * through the oci-archive / docker-archive sources of src/transports/ when those modules exist.
 */
import { TcraneError } from "../errors.js";
import { FromStore, fallbackRepoName, isDirectory, openLayoutDir, type BundleSource } from "./from-store.js";

/** Open `path` as a read-only store. Throws NOT_FOUND when missing, UNSUPPORTED for archives without a reader. */
export async function openBundle(path: string): Promise<FromStore> {
  let dir: boolean;
  try {
    dir = await isDirectory(path);
  } catch (err) {
    throw new TcraneError("NOT_FOUND", "no such file or directory", { what: path, cause: err });
  }
  let src: BundleSource;
  if (dir) {
    try {
      src = await openLayoutDir(path);
    } catch (err) {
      throw new TcraneError("MALFORMED", (err as Error).message, { what: path, cause: err });
    }
  } else {
    src = await openArchive(path);
  }
  return FromStore.open(src, fallbackRepoName(path));
}

async function openArchive(path: string): Promise<BundleSource> {
  throw new TcraneError("UNSUPPORTED", "serving an archive is not available yet: unpack it (tcrane copy oci-archive:FILE oci:DIR) and use --from DIR", {
    what: path,
  });
}
