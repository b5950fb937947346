/**
 * The parts of undici tcrane uses (Agent, Pool, EnvHttpProxyAgent, request), loaded without the
 * rest of the package: `import "undici"` also evaluates fetch, WebSocket, EventSource, the cache
 * stores and the mocks, about 60 ms of a CLI start on the 2-core machine; these files take ~25 ms.
 * undici's own index does the one wiring needed here: the request/connect API on Dispatcher.prototype
 * (ProxyAgent's CONNECT tunnel calls `client.connect`).
 */
import type * as U from "undici";
import AgentImpl from "undici/lib/dispatcher/agent.js";
import PoolImpl from "undici/lib/dispatcher/pool.js";
import EnvHttpProxyAgentImpl from "undici/lib/dispatcher/env-http-proxy-agent.js";
import DispatcherImpl from "undici/lib/dispatcher/dispatcher.js";
import api from "undici/lib/api/index.js";

Object.assign(DispatcherImpl.prototype, api);

export const Agent = AgentImpl as typeof U.Agent;
export type Agent = U.Agent;
export const Pool = PoolImpl as typeof U.Pool;
export type Pool = U.Pool;
export const EnvHttpProxyAgent = EnvHttpProxyAgentImpl as typeof U.EnvHttpProxyAgent;
export type EnvHttpProxyAgent = U.EnvHttpProxyAgent;

/** undici's `request(url, { dispatcher, ... })`, without its global dispatcher. */
export function request(
  url: URL,
  opts: Omit<U.Dispatcher.RequestOptions, "origin" | "path"> & { dispatcher: U.Dispatcher },
): Promise<U.Dispatcher.ResponseData> {
  const { dispatcher, ...rest } = opts;
  return dispatcher.request({ ...rest, origin: url.origin, path: `${url.pathname}${url.search}` });
}
