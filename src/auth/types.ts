/**
 * Credential shapes shared by the keychain (src/auth/) and the registry client (src/registry/).
 */

/** What the keychain knows for one registry (docker's AuthConfig). */
export interface Credential {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (docker `identitytoken`, or helper username `<token>`). */
  identityToken?: string;
  /** Sent as `Authorization: Bearer <registryToken>` as is. */
  registryToken?: string;
}

/** Where a credential is looked up for. */
export interface AuthTarget {
  /** Registry host[:port], as in a parsed reference (`index.docker.io`, `localhost:5000`). */
  registry: string;
  /** Repository path (`library/ubuntu`), when known: keys `registry/repo` are tried first. */
  repository?: string;
}

/** Finds credentials. Anonymous ⇒ undefined. Errors (bad config, failing helper) are thrown. */
export interface Keychain {
  resolve(target: AuthTarget): Promise<Credential | undefined>;
}

/** A keychain that always answers anonymous. */
export const anonymousKeychain: Keychain = { resolve: async () => undefined };
