/**
 * Open a `--from` bundle: an OCI layout directory (read by from-store.ts) or an archive, read
 * through the oci-archive / docker-archive sources of src/transports/.
 */
import type { Readable } from "node:stream";
import { TcraneError } from "../errors.js";
import type { Descriptor } from "../image/types.js";
import { FromStore, fallbackRepoName, isDirectory, openLayoutDir, type BundleSource } from "./from-store.js";

/** Open `path` as a read-only store. Throws NOT_FOUND when missing; archive readers throw CORRUPT_ARCHIVE/MALFORMED. */
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
  try {
    return await FromStore.open(src, fallbackRepoName(path));
  } catch (err) {
    await src.close?.();
    throw err;
  }
}

/** Adapt a transports Source & Lister (which may also close) to a BundleSource. */
function adapt(src: {
  list(): Promise<Array<{ descriptor: Descriptor; names: string[] }>>;
  fetch(d: Descriptor): Promise<Readable>;
  close?(): Promise<void>;
}): BundleSource {
  return { list: () => src.list(), fetch: (d) => src.fetch(d), close: () => src.close?.() ?? Promise.resolve() };
}

/**
 * Open an archive: first as an oci-archive (which also covers Docker 25+ `docker save` output, an
 * OCI layout inside), else as a docker-archive. The readers index the tar once and read members by
 * offset, so nothing is unpacked.
 */
async function openArchive(path: string): Promise<BundleSource> {
  const { openOciArchiveSource } = await import("../transports/oci-archive.js");
  try {
    return adapt(await openOciArchiveSource(path));
  } catch (ociErr) {
    const notOci = ociErr instanceof TcraneError && ociErr.code === "CORRUPT_ARCHIVE" && /no index\.json/.test(ociErr.message);
    if (!notOci) throw ociErr;
  }
  const { openDockerArchiveSource } = await import("../transports/docker-archive-source.js");
  return adapt(await openDockerArchiveSource(path));
}
