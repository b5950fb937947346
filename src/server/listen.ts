/**
 * Listening for tcrane's servers (the embedded registry, `tcrane browse`): listen on HOST:PORT,
 * name the address as clients should use it, and close by dropping open connections too.
 */
import type { Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { TcraneError } from "../errors.js";

/** A listening server. */
export interface Listening {
  /** `HOST:PORT` as clients should name it (a wildcard listen address is reported as 127.0.0.1). */
  hostPort: string;
  /** Stop listening and destroy every open connection. */
  close(): Promise<void>;
}

/** Listen on `host:port` (`address` names it in errors: IO `cannot listen: EADDRINUSE`). */
export async function listenOn(server: Server, host: string, port: number, address: string): Promise<Listening> {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  };
  server.on("connection", track);
  server.on("secureConnection", track);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TcraneError("IO", `cannot listen: ${e.code ?? e.message}`, { what: address, cause: err });
  }
  const a = server.address() as AddressInfo;
  const shown = a.address === "0.0.0.0" || a.address === "::" ? "127.0.0.1" : a.address;
  return {
    hostPort: shown.includes(":") ? `[${shown}]:${a.port}` : `${shown}:${a.port}`,
    close: async () => {
      const done = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await done;
    },
  };
}
