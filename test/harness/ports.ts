/**
 * Free TCP ports on 127.0.0.1 for test servers.
 *
 * The kernel picks a port when we bind to port 0; we read it and close the socket, so the port is free again when
 * the caller hands it to a child process. Two things can still go wrong, and this module handles the first:
 *
 * 1. The kernel may hand the same port out twice in one test process (once it is closed it is free to reuse).
 *    Every port returned here is remembered for the life of the process and never returned again.
 * 2. Another process may grab the port between our close and the child's bind. That window is small; callers that
 *    start servers (see `processes.ts`) retry with fresh ports when a child fails with "address already in use".
 *
 * Example:
 * ```ts
 * const [client, peer] = await freePorts(2);
 * ```
 */
import net from 'node:net';

const HOST = '127.0.0.1';

/** Ports handed out by this process; never handed out again. */
const handedOut = new Set<number>();

/** How many times we ask the kernel before giving up (only reached if it keeps returning ports we already gave). */
const MAX_ATTEMPTS = 50;

function bindEphemeral(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: HOST, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`ports: unexpected listen address ${String(address)}`));
        return;
      }
      const port = address.port;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/** One free TCP port on 127.0.0.1 that this process has not handed out before. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const port = await bindEphemeral();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`ports: no unused port after ${MAX_ATTEMPTS} attempts`);
}

/** `n` distinct free TCP ports on 127.0.0.1. */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  return ports;
}
