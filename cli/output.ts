/**
 * Shared output helpers for commands: stdout for results, stderr for everything else.
 */
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
