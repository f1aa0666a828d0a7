/**
 * SessionLink: the byte stream from the bridge to a session process. A
 * direct-tcpip tunnel where the server allows it; where the login node
 * forbids TCP forwarding (OpenSSH's AllowTcpForwarding no refuses the
 * channel as "administratively prohibited"), the agent's `relay HOST PORT`
 * (src/runtime/_cb_relay.py) on an exec channel carries the same bytes.
 * A transport found to forbid forwarding is remembered, so later connects go
 * straight to the relay instead of asking sshd again.
 */
import type { Duplex } from 'stream';

import { agentCommand } from '../schedulers/direct';
import type { IOpenCluster } from '../jobs/context';
import type { IOutputSink } from '../jobs/types';
import { TransportError } from '../transport/errors';
import type { ITransport } from '../transport/types';

/** RFC 4254's SSH_OPEN_ADMINISTRATIVELY_PROHIBITED, what sshd answers when forwarding is off. */
const ADMINISTRATIVELY_PROHIBITED = 1;

export function noForwardingNotice(cluster: string): string {
  return `[cluster-bridge] ${cluster} forbids TCP forwarding; the session's bytes go through an exec relay\n`;
}

/** Whether a tunnel failed because the server forbids forwarding (not a connect failure). */
export function forwardingForbidden(err: unknown): boolean {
  const cause = err instanceof TransportError ? err.cause : err;
  return (
    typeof cause === 'object' &&
    cause !== null &&
    (cause as { reason?: unknown }).reason === ADMINISTRATIVELY_PROHIBITED
  );
}

export class SessionLink {
  /**
   * A stream to host:port as the cluster sees it. `sink`: the cell that
   * connects, told once per cluster when the relay is in use.
   */
  async open(
    open: IOpenCluster,
    host: string,
    port: number,
    sink?: IOutputSink
  ): Promise<Duplex> {
    const { transport } = open;
    if (!this._relayed.has(transport)) {
      try {
        return await transport.tunnel(host, port);
      } catch (err) {
        if (!forwardingForbidden(err)) {
          throw err;
        }
        this._relayed.add(transport);
      }
    }
    const cluster = open.cluster.name;
    if (sink && !this._noticed.has(cluster)) {
      this._noticed.add(cluster);
      sink.stream('stderr', noForwardingNotice(cluster));
    }
    return transport.execDuplex(
      agentCommand(open.agent, 'relay', host, String(port))
    );
  }

  /** Per transport: a changed cluster config gets a new one, which is asked again. */
  private _relayed = new WeakSet<ITransport>();
  private _noticed = new Set<string>();
}
