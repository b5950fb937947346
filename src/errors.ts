/**
 * One typed error hierarchy for tcrane. Every error carries a string `code`, the exit status of
 * ../shared/cli.md, and optionally `what` (the reference, file or URL it concerns, never with
 * credentials). The CLI prints `tcrane: <what>: <message>` and exits with `exitCode`.
 */

/** Exit statuses of the command-line contract. */
export const ExitCode = {
  OK: 0,
  FAILED: 1,
  BAD_INPUT: 2,
  NOT_FOUND: 3,
  AUTH: 4,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Error codes, each mapped to an exit status. */
export const ErrorCodes = {
  // bad input (2)
  USAGE: ExitCode.BAD_INPUT,
  INVALID_REFERENCE: ExitCode.BAD_INPUT,
  INVALID_DIGEST: ExitCode.BAD_INPUT,
  INVALID_PLATFORM: ExitCode.BAD_INPUT,
  MALFORMED: ExitCode.BAD_INPUT, // malformed JSON / manifest / config / spec file
  UNKNOWN_MEDIA_TYPE: ExitCode.BAD_INPUT,
  CORRUPT_ARCHIVE: ExitCode.BAD_INPUT, // truncated or corrupt tar/gzip, unsafe member paths
  CONFIG: ExitCode.BAD_INPUT, // bad docker config.json / credential setup
  // not found (3)
  NOT_FOUND: ExitCode.NOT_FOUND,
  // auth (4)
  UNAUTHORIZED: ExitCode.AUTH,
  DENIED: ExitCode.AUTH,
  // failed (1)
  DIGEST_MISMATCH: ExitCode.FAILED,
  SIZE_MISMATCH: ExitCode.FAILED,
  REGISTRY: ExitCode.FAILED,
  TOOMANYREQUESTS: ExitCode.FAILED,
  NETWORK: ExitCode.FAILED,
  IO: ExitCode.FAILED,
  CREDENTIAL_HELPER: ExitCode.FAILED,
  UNSUPPORTED: ExitCode.FAILED,
  ABORTED: ExitCode.FAILED,
  FAILED: ExitCode.FAILED,
} as const;
export type ErrorCode = keyof typeof ErrorCodes;

export interface TcraneErrorOptions {
  /** What the error is about: a reference, a file path, a URL (already redacted). */
  what?: string;
  cause?: unknown;
}

/** Base class of every error tcrane throws on purpose. */
export class TcraneError extends Error {
  readonly code: ErrorCode;
  readonly what: string | undefined;
  constructor(code: ErrorCode, message: string, opts: TcraneErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "TcraneError";
    this.code = code;
    this.what = opts.what;
  }
  /** The exit status of ../shared/cli.md for this error. */
  get exitCode(): ExitCodeValue {
    return ErrorCodes[this.code];
  }
  /** The one line the CLI prints (without the `tcrane: ` prefix). */
  get line(): string {
    return this.what ? `${this.what}: ${this.message}` : this.message;
  }
}

/** One entry of the OCI distribution error JSON. */
export interface RegistryErrorDetail {
  code: string;
  message?: string;
  detail?: unknown;
}

/** An HTTP exchange with a registry that failed. Keeps status, method, redacted URL and errors[]. */
export class RegistryError extends TcraneError {
  readonly status: number;
  readonly method: string;
  readonly url: string;
  readonly errors: RegistryErrorDetail[];
  constructor(
    code: ErrorCode,
    message: string,
    init: { status: number; method: string; url: string; errors?: RegistryErrorDetail[]; cause?: unknown },
  ) {
    super(code, message, { what: `${init.method} ${init.url}`, cause: init.cause });
    this.name = "RegistryError";
    this.status = init.status;
    this.method = init.method;
    this.url = init.url;
    this.errors = init.errors ?? [];
  }
}

/** A digest or size check failed while bytes flowed. */
export class VerificationError extends TcraneError {
  readonly expected: string;
  readonly actual: string;
  constructor(code: "DIGEST_MISMATCH" | "SIZE_MISMATCH", what: string, expected: string, actual: string) {
    super(
      code,
      code === "DIGEST_MISMATCH"
        ? `digest mismatch: expected ${expected}, got ${actual}`
        : `size mismatch: expected ${expected} bytes, got ${actual}`,
      { what },
    );
    this.name = "VerificationError";
    this.expected = expected;
    this.actual = actual;
  }
}

/** Map an OCI distribution error code (and HTTP status) to a tcrane error code. */
export function codeForRegistry(status: number, ociCode?: string): ErrorCode {
  switch (ociCode) {
    case "MANIFEST_UNKNOWN":
    case "NAME_UNKNOWN":
    case "BLOB_UNKNOWN":
    case "BLOB_UPLOAD_UNKNOWN":
      return "NOT_FOUND";
    case "UNAUTHORIZED":
      return "UNAUTHORIZED";
    case "DENIED":
      return "DENIED";
    case "TOOMANYREQUESTS":
      return "TOOMANYREQUESTS";
    case "DIGEST_INVALID":
      return "DIGEST_MISMATCH";
  }
  if (status === 401) return "UNAUTHORIZED";
  if (status === 403) return "DENIED";
  if (status === 404) return "NOT_FOUND";
  if (status === 429) return "TOOMANYREQUESTS";
  return "REGISTRY";
}

/** True for errors that mean "it is not there", on any transport. */
export function isNotFound(err: unknown): boolean {
  return err instanceof TcraneError && err.code === "NOT_FOUND";
}

/**
 * Turn any thrown value into a TcraneError: system errors (ENOENT, EACCES, ENOSPC, ECONNREFUSED…)
 * get sensible codes; unknown values become FAILED.
 */
export function toTcraneError(err: unknown): TcraneError {
  if (err instanceof TcraneError) return err;
  const e = err as NodeJS.ErrnoException & { path?: string };
  if (e && typeof e === "object" && typeof e.code === "string") {
    const what = e.path;
    switch (e.code) {
      case "ENOENT":
        return new TcraneError("NOT_FOUND", "no such file or directory", { what, cause: err });
      case "EACCES":
      case "EPERM":
        return new TcraneError("IO", "permission denied", { what, cause: err });
      case "EROFS":
        return new TcraneError("IO", "read-only file system", { what, cause: err });
      case "ENOSPC":
        return new TcraneError("IO", "no space left on device", { what, cause: err });
      case "EISDIR":
        return new TcraneError("MALFORMED", "is a directory, expected a file", { what, cause: err });
      case "ENOTDIR":
        return new TcraneError("IO", "not a directory", { what, cause: err });
      case "ECONNREFUSED":
      case "ECONNRESET":
      case "ETIMEDOUT":
      case "ENOTFOUND":
      case "EAI_AGAIN":
      case "EPIPE":
      case "UND_ERR_SOCKET":
        return new TcraneError("NETWORK", `${e.message || e.code}`, { cause: err });
      // undici's own words ("Headers Timeout Error") say which wait ran out, not what to do about it
      case "UND_ERR_CONNECT_TIMEOUT":
        return new TcraneError("NETWORK", "timed out connecting (--timeout sets the limit)", { cause: err });
      case "UND_ERR_HEADERS_TIMEOUT":
        return new TcraneError("NETWORK", "timed out waiting for the response (--timeout sets the limit)", { cause: err });
      case "UND_ERR_BODY_TIMEOUT":
        return new TcraneError("NETWORK", "timed out waiting for more of the response body (--timeout sets the limit)", { cause: err });
      case "ABORT_ERR":
        return new TcraneError("ABORTED", "interrupted", { cause: err });
    }
  }
  if (e && typeof e === "object" && (e as Error).name === "AbortError") {
    return new TcraneError("ABORTED", "interrupted", { cause: err });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new TcraneError("FAILED", msg, { cause: err });
}
