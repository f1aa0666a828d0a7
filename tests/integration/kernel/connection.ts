/**
 * Jupyter connection files for kernels that the integration tests and
 * bench/kernel.ts start themselves. No jest and no paths of this repository
 * here, so the bench can import it too.
 */
import * as fs from 'fs';
import * as net from 'net';

export interface IConnectionInfo {
  transport: 'tcp' | 'ipc';
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: 'hmac-sha256';
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Writes a connection file with five free ports (for ipc, `ip` is the socket
 * path prefix and the ports its suffixes) and returns what it wrote.
 */
export async function writeConnectionFile(
  file: string,
  key: string,
  transport: 'tcp' | 'ipc' = 'tcp',
  ip = '127.0.0.1'
): Promise<IConnectionInfo> {
  const ports = await Promise.all([0, 1, 2, 3, 4].map(() => freePort()));
  const conn: IConnectionInfo = {
    transport,
    ip,
    shell_port: ports[0],
    iopub_port: ports[1],
    stdin_port: ports[2],
    control_port: ports[3],
    hb_port: ports[4],
    key,
    signature_scheme: 'hmac-sha256'
  };
  fs.writeFileSync(file, JSON.stringify(conn));
  return conn;
}
