/**
 * Shared output helpers for commands: stdout for results, stderr for everything else.
 */
import { TcraneError, toTcraneError } from "../src/errors.js";
import { redactText } from "../src/redact.js";

const warnings = new Set<string>();

/** Collect a warning (e.g. a registry's `Warning: 299` header) to print once at exit. */
export function warnOnce(text: string): void {
  warnings.add(redactText(text));
}

/** Print the collected warnings on stderr, once each. */
export function flushWarnings(): void {
  for (const w of warnings) process.stderr.write(`tcrane: warning: ${w}\n`);
  warnings.clear();
}

/** Print a result on stdout: JSON when asked, else the text form. */
export function printResult(json: boolean, value: unknown, text?: () => string): void {
  if (json || text === undefined) process.stdout.write(JSON.stringify(value, null, 2) + "\n");
  else process.stdout.write(text() + "\n");
}

/** The exit status of a command whose reader went away: what a shell reports for a tool killed by SIGPIPE. */
export const READER_GONE_STATUS = 128 + 13;

interface StdoutState {
  /** The first error stdout reported. */
  error?: NodeJS.ErrnoException;
  /** Whether a line was printed for it already. */
  reported: boolean;
  /** Whether main() has returned (errors after that are reported by the listener itself). */
  done: boolean;
}

const stdoutState: StdoutState = { reported: false, done: false };
const watched = new WeakSet<NodeJS.WriteStream>();

/** Whether `e` says the reading end of stdout was closed (`… | head`). */
export function isReaderGone(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === "EPIPE";
}

/** The error line of a failed write to stdout (a real one: a full disk, a revoked file…). */
export function stdoutErrorLine(e: NodeJS.ErrnoException): TcraneError {
  const t = toTcraneError(e);
  return new TcraneError(t.code === "NOT_FOUND" ? "IO" : t.code === "NETWORK" ? "IO" : t.code, t.message, { what: "stdout", cause: e });
}

/**
 * Watch stdout for the whole run. A reader that goes away (EPIPE, as in `tcrane blob … | head -c 10`)
 * ends the command quietly with status 141, as cat or tar end when SIGPIPE kills them (node ignores
 * SIGPIPE, so the write fails instead). Any other write error (ENOSPC on /dev/full, EIO, …) fails
 * with one line naming stdout and status 1.
 */
export function watchStdout(stream: NodeJS.WriteStream = process.stdout): void {
  stdoutState.done = false;
  if (watched.has(stream)) return;
  watched.add(stream);
  stream.on("error", (e: NodeJS.ErrnoException) => {
    stdoutState.error ??= e;
    if (!stdoutState.done) return; // main() sees it: the command's write fails with it
    if (isReaderGone(e)) {
      if (!process.exitCode) process.exitCode = READER_GONE_STATUS;
    } else if (!stdoutState.reported) {
      stdoutState.reported = true;
      process.stderr.write(`tcrane: ${redactText(stdoutErrorLine(e).line)}\n`);
      if (!process.exitCode) process.exitCode = 1;
    }
  });
}

/**
 * How a run ends after stdout failed, decided once main() is done: undefined when stdout is fine;
 * READER_GONE_STATUS when the reader went away (whatever the command's own error, which was its
 * consequence); else the stdout error (to be reported once in place of the command's).
 */
export function stdoutOutcome(): { status: number } | { error: TcraneError } | undefined {
  stdoutState.done = true;
  const e = stdoutState.error;
  if (!e) return undefined;
  if (isReaderGone(e)) return { status: READER_GONE_STATUS };
  stdoutState.reported = true;
  return { error: stdoutErrorLine(e) };
}
