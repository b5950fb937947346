/**
 * A tiny HTTP CONNECT proxy for tests: tunnels every CONNECT to its target and counts the tunnels
 * (one per client connection) and the targets asked for. Plain proxy requests get 405.
 */
import { createServer, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";

/** A running CONNECT proxy. */
export interface ConnectProxy {
  /** http://127.0.0.1:port */
  url: string;
  /** Tunnels opened so far. */
  readonly connections: number;
  /** Tunnels open right now, and the most open at once since start or `resetMax()`. */
  readonly open: number;
  readonly maxOpen: number;
  resetMax(): void;
  /** host:port of every CONNECT, in order. */
  targets: string[];
  stop(): Promise<void>;
}

/** Start a CONNECT proxy on a free loopback port. */
export async function startConnectProxy(): Promise<ConnectProxy> {
  const targets: string[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  let open = 0;
  let maxOpen = 0;
  const server: Server = createServer((_req, res) => {
    res.writeHead(405, { "content-type": "text/plain" });
    res.end("CONNECT only\n");
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("connect", (req, client: Socket, head: Buffer) => {
    connections++;
    open++;
    maxOpen = Math.max(maxOpen, open);
    let closed = false;
    const onClose = () => {
      if (!closed) open--;
      closed = true;
    };
    client.on("close", onClose);
    const target = req.url ?? "";
    targets.push(target);
    const i = target.lastIndexOf(":");
    const host = target.slice(0, i).replace(/^\[|\]$/g, "");
    const port = Number(target.slice(i + 1));
    const upstream = connect(port, host, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    get open() {
      return open;
    },
    get maxOpen() {
      return maxOpen;
    },
    resetMax() {
      maxOpen = open;
    },
    targets,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
