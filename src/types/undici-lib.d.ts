// undici's internal CommonJS files imported by src/registry/undici-lite.ts (typed there by a cast).
declare module "undici/lib/dispatcher/agent.js" { const x: unknown; export default x; }
declare module "undici/lib/dispatcher/pool.js" { const x: unknown; export default x; }
declare module "undici/lib/dispatcher/env-http-proxy-agent.js" { const x: unknown; export default x; }
declare module "undici/lib/dispatcher/dispatcher.js" { const x: { prototype: object }; export default x; }
declare module "undici/lib/api/index.js" { const x: Record<string, unknown>; export default x; }
