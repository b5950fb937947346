/**
 * The registry client: the OCI distribution API over undici, with challenges, tokens, retries,
 * redirects, resumable downloads and restartable uploads.
 */
export { RegistryClient, DEFAULT_USER_AGENT, type RegistryClientOptions, type TokenResult, type Repo, type ManifestResult } from "./client.js";
export { MANIFEST_ACCEPT, MANIFEST_SIZE_LIMIT } from "./manifest.js";
export { DEFAULT_CHUNK_SIZE, uploadUrlWithDigest } from "./upload.js";
export { DEFAULT_PAGE_SIZE, nextLink } from "./pagination.js";
export { referrersTag } from "./referrers.js";
export { parseContentRange, pullScopes, pushScopes } from "./blob.js";
export {
  parseChallenges,
  pickChallenge,
  parseScope,
  scopesCover,
  mergeScopes,
  splitScopes,
  scopeKey,
  type Challenge,
  type ParsedScope,
} from "./challenge.js";
export { DEFAULT_RETRIES, RETRYABLE_STATUS, parseRetryAfter, backoffDelay, isRetryableError, type BackoffOptions } from "./retry.js";
export {
  DEFAULT_CERT_DIR,
  DEFAULT_CONNECTIONS_PER_HOST,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_HEADERS_TIMEOUT,
  DEFAULT_BODY_TIMEOUT,
  readCertsD,
  type ProxyOptions,
  type HostTls,
} from "./http.js";
export { registryError, parseErrorBody } from "./errors.js";
export { OAUTH_CLIENT_ID } from "./token.js";
export type { RegistryStats } from "./transport.js";
