/**
 * Registry error responses ⇒ RegistryError. The OCI error JSON `{"errors":[{code,message,detail}]}`
 * becomes a RegistryError whose code comes from `codeForRegistry` (src/errors.ts); an HTML error page
 * or any other body becomes one clear line naming the HTTP status. URLs are always redacted.
 */
import { codeForRegistry, RegistryError, type RegistryErrorDetail } from "../errors.js";
import { redactText, redactUrl } from "../redact.js";

/** How many bytes of an error body are read (the rest is discarded). */
export const ERROR_BODY_LIMIT = 64 * 1024;

/** Parse the OCI error JSON; undefined when the body is not that shape. */
export function parseErrorBody(body: string): RegistryErrorDetail[] | undefined {
  try {
    const j = JSON.parse(body) as { errors?: unknown };
    if (!j || typeof j !== "object" || !Array.isArray(j.errors)) return undefined;
    const out: RegistryErrorDetail[] = [];
    for (const e of j.errors as unknown[]) {
      if (e && typeof e === "object" && typeof (e as { code?: unknown }).code === "string") {
        const r = e as { code: string; message?: unknown; detail?: unknown };
        out.push({ code: r.code, message: typeof r.message === "string" ? r.message : undefined, detail: r.detail });
      }
    }
    return out;
  } catch {
    return undefined;
  }
}

function detailText(detail: unknown): string {
  if (detail === undefined || detail === null || detail === "") return "";
  const s = typeof detail === "string" ? detail : JSON.stringify(detail);
  return s.length > 300 ? s.slice(0, 300) + "…" : s;
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  413: "Payload Too Large",
  416: "Range Not Satisfiable",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** Input of `registryError`. */
export interface ErrorInput {
  method: string;
  url: string | URL;
  status: number;
  /** Raw body (possibly truncated) and its Content-Type. */
  body?: string;
  contentType?: string;
  /** The registry host, named in auth errors. */
  registry?: string;
  cause?: unknown;
}

/**
 * Build the RegistryError for a failed exchange. Message forms:
 * `MANIFEST_UNKNOWN: manifest unknown[; detail]`, `unexpected status 502 Bad Gateway (HTML error page)`,
 * `unexpected status 500 Internal Server Error: <first line of body>`. Auth failures name the registry.
 */
export function registryError(input: ErrorInput): RegistryError {
  const url = redactUrl(input.url);
  const errors = input.body ? parseErrorBody(input.body) : undefined;
  const first = errors?.[0];
  const code = codeForRegistry(input.status, first?.code);
  let message: string;
  if (first) {
    message = errors!
      .map((e) => {
        const d = detailText(e.detail);
        return `${e.code}: ${e.message ?? e.code.toLowerCase().replace(/_/g, " ")}${d ? `; ${d}` : ""}`;
      })
      .join(", ");
  } else {
    const text = STATUS_TEXT[input.status] ?? "";
    const body = (input.body ?? "").trim();
    const isHtml = /html/i.test(input.contentType ?? "") || /^<(!doctype|html|head|body)/i.test(body);
    if (isHtml) message = `unexpected status ${input.status} ${text} (HTML error page)`.replace("  ", " ");
    else if (body) message = `unexpected status ${input.status} ${text}: ${body.split(/\r?\n/)[0]!.slice(0, 200)}`.replace("  ", " ");
    else message = `unexpected status ${input.status} ${text}`.trim();
  }
  if ((code === "UNAUTHORIZED" || code === "DENIED") && input.registry) {
    message += code === "UNAUTHORIZED" ? ` (authentication required by ${input.registry})` : ` (access denied by ${input.registry})`;
  }
  return new RegistryError(code, redactText(message), {
    status: input.status,
    method: input.method,
    url,
    errors: errors ?? [],
    cause: input.cause,
  });
}
