/**
 * Renders the engine's progress events on stderr: bars on a TTY (log-update: one line per active
 * blob with bytes, rate and ETA; finished blobs printed as permanent lines), one plain line per
 * blob start/finish with --progress=plain, NDJSON with --progress=json, nothing with none.
 */
import { createLogUpdate } from "log-update";
import type { TransferEvent } from "../src/transfer/events.js";

export type ProgressMode = "auto" | "tty" | "plain" | "json" | "none";

/** Human-readable bytes. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

const short = (d: string) => d.replace(/^sha256:/, "").slice(0, 12);

interface Active {
  size: number;
  bytes: number;
  started: number;
}

/** A progress renderer; `listener` goes to the engine's onEvent, `done()` clears the frame. */
export interface Progress {
  listener: (e: TransferEvent) => void;
  done(): void;
}

/** Choose and build the renderer for a --progress mode. */
export function createProgress(mode: ProgressMode, stream: NodeJS.WriteStream = process.stderr): Progress {
  const isTty = Boolean(stream.isTTY) && process.env.TERM !== "dumb" && !process.env.CI;
  const effective = mode === "auto" ? (isTty ? "tty" : "none") : mode;
  if (effective === "none") return { listener: () => {}, done: () => {} };
  if (effective === "json") {
    return {
      listener: (e) => {
        if (e.type === "blob-progress") return throttledJson(e, stream);
        stream.write(JSON.stringify({ time: new Date().toISOString(), ...e }) + "\n");
      },
      done: () => {},
    };
  }
  if (effective === "plain") {
    return {
      listener: (e) => {
        const line = plainLine(e);
        if (line) stream.write(line + "\n");
      },
      done: () => {},
    };
  }
  return ttyRenderer(stream);
}

const lastJson = new Map<string, number>();
function throttledJson(e: Extract<TransferEvent, { type: "blob-progress" }>, stream: NodeJS.WriteStream): void {
  const now = Date.now();
  if (e.bytes !== e.size && now - (lastJson.get(e.digest) ?? 0) < 250) return;
  lastJson.set(e.digest, now);
  stream.write(JSON.stringify({ time: new Date().toISOString(), ...e }) + "\n");
}

function plainLine(e: TransferEvent): string | undefined {
  switch (e.type) {
    case "image-start":
      return `copying ${e.ref} (${e.digest})`;
    case "image-done":
      return `copied ${e.ref} ${e.digest}: ${formatBytes(e.bytes)} in ${e.seconds.toFixed(1)}s`;
    case "image-skipped":
      return `up to date ${e.ref} ${e.digest}`;
    case "blob-start":
      return `${short(e.digest)}: copying ${formatBytes(e.size)}`;
    case "blob-done":
      return `${short(e.digest)}: done`;
    case "blob-skipped":
      return `${short(e.digest)}: exists`;
    case "blob-mounted":
      return `${short(e.digest)}: mounted from ${e.from}`;
    case "blob-compressed":
      return `${short(e.from)}: compressed to ${short(e.digest)} (${formatBytes(e.size)})`;
    case "manifest-converted":
      return `${short(e.from)}: Docker schema 1 converted to schema 2 ${short(e.digest)}`;
    default:
      return undefined;
  }
}

function ttyRenderer(stream: NodeJS.WriteStream): Progress {
  const render = createLogUpdate(stream, { showCursor: true, defaultHeight: 24 });
  const active = new Map<string, Active>();
  let timer: NodeJS.Timeout | undefined;
  const bar = (a: Active, width = 24) => {
    const f = a.size > 0 ? Math.min(1, a.bytes / a.size) : 1;
    const n = Math.round(f * width);
    return "[" + "=".repeat(n) + " ".repeat(width - n) + "]";
  };
  const draw = () => {
    const lines: string[] = [];
    for (const [d, a] of active) {
      const secs = Math.max(0.001, (Date.now() - a.started) / 1000);
      const rate = a.bytes / secs;
      const eta = rate > 0 && a.size > a.bytes ? `${Math.ceil((a.size - a.bytes) / rate)}s` : "";
      lines.push(`${short(d)} ${bar(a)} ${formatBytes(a.bytes)}/${formatBytes(a.size)} ${formatBytes(rate)}/s ${eta}`);
    }
    render(lines.join("\n"));
  };
  const permanent = (line: string) => {
    render.clear();
    stream.write(line + "\n");
    draw();
  };
  return {
    listener: (e) => {
      if (e.type === "blob-start") active.set(e.digest, { size: e.size, bytes: 0, started: Date.now() });
      else if (e.type === "blob-progress") {
        const a = active.get(e.digest);
        if (a) a.bytes = e.bytes;
      } else if (e.type === "blob-done") {
        active.delete(e.digest);
        permanent(plainLine(e)!);
      } else {
        const line = plainLine(e);
        if (line) permanent(line);
      }
      if (!timer) timer = setInterval(draw, 100);
    },
    done: () => {
      if (timer) clearInterval(timer);
      render.clear();
      render.done();
    },
  };
}
