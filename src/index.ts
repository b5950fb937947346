/**
 * tcrane's library entry: everything the CLI does is reachable from here with types.
 *
 *   import { RegistryClient, copy, parseReference } from "tcrane";
 */
export * from "./errors.js";
export * from "./redact.js";
export * from "./reference/index.js";
export * from "./image/types.js";
export * from "./image/digest.js";
export * from "./image/mediatypes.js";
export * from "./image/manifest.js";
export {
  SCHEMA1_LAYER,
  manifestDigest,
  parseSchema1,
  schema1Inspect,
  schema1Layers,
  schema1MediaType,
  schema1Payload,
  schema1ToSchema2Config,
  schema2Manifest,
  type Schema1,
  type Schema1Inspect,
  type Schema1Layer,
  type V1Compatibility,
} from "./image/schema1.js";
export * from "./image/platform.js";
export * from "./image/compression.js";
export {
  DockerKeychain,
  defaultKeychain,
  storeCredential,
  eraseCredential,
  resolveCliCredentials,
  anonymousKeychain,
  envAuthConfig,
  DOCKER_AUTH_CONFIG,
  parseConfig as parseDockerConfig,
  type AuthTarget,
  type Credential,
  type Keychain,
} from "./auth/index.js";
export {
  RegistryClient,
  DEFAULT_USER_AGENT,
  MANIFEST_SIZE_LIMIT,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_PAGE_SIZE,
  DEFAULT_RETRIES,
  DEFAULT_CERT_DIR,
  DEFAULT_CONNECTIONS_PER_HOST,
  parseChallenges,
  parseRetryAfter,
  type RegistryClientOptions,
  type TokenResult,
  type Repo,
  type ManifestResult,
  type Challenge,
} from "./registry/index.js";
export * from "./transports/index.js";
export { FanoutSink, tee } from "./transports/fanout.js";
export { OverlaySource } from "./transports/overlay.js";
export * from "./transfer/engine.js";
export * from "./transfer/events.js";
export * from "./transfer/ops.js";
export * from "./ops/index.js";
export * from "./mirror/index.js";
export { startRegistry, type RegistryOptions, type RunningRegistry } from "./server/index.js";
export * from "./ui/index.js";
export * from "./mutate/index.js";
