/**
 * Typed progress events of the transfer engine. The engine emits; nobody else prints. The CLI renders
 * them as bars on a TTY or NDJSON with --progress=json; library users subscribe with `onEvent`.
 */

/** Something happened to one blob or manifest. */
export type TransferEvent =
  | { type: "image-start"; ref: string; digest: string; mediaType: string }
  | { type: "image-done"; ref: string; digest: string; bytes: number; seconds: number }
  | { type: "image-skipped"; ref: string; digest: string; reason: "up-to-date" }
  | { type: "blob-start"; digest: string; size: number; mediaType: string }
  | { type: "blob-progress"; digest: string; bytes: number; size: number }
  | { type: "blob-done"; digest: string; size: number }
  | { type: "blob-skipped"; digest: string; size: number }
  | { type: "blob-mounted"; digest: string; size: number; from: string }
  | { type: "blob-compressed"; from: string; digest: string; size: number }
  | { type: "manifest-done"; digest: string; mediaType: string; size: number }
  /** A Docker schema 1 manifest turned into a schema 2 one (the sink cannot hold schema 1): the digest changes. */
  | { type: "manifest-converted"; from: string; digest: string; mediaType: string; reason: string };

/** A subscriber of transfer events. */
export type EventListener = (event: TransferEvent) => void;
