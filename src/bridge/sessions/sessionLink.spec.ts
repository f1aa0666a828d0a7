import { PassThrough, type Duplex } from 'stream';

import { recordingSink } from '../../../tests/support/jobs';
import type { IOpenCluster } from '../jobs/context';
import { TransportError } from '../transport/errors';
import type { ITransport } from '../transport/types';
import { forwardingForbidden, SessionLink } from './sessionLink';

/** What sshd answers: ssh2 puts the RFC 4254 reason code on the error. */
function refusal(reason: number, description: string): TransportError {
  const cause = Object.assign(
    new Error(`(SSH) Channel open failure: ${description}`),
    { reason }
  );
  return new TransportError('channel', `hpc: cannot open a tunnel`, cause);
}

function cluster(tunnel: () => Promise<Duplex>): {
  open: IOpenCluster;
  calls: { tunnels: number; relays: string[] };
} {
  const calls = { tunnels: 0, relays: [] as string[] };
  const transport = {
    tunnel: async () => {
      calls.tunnels++;
      return tunnel();
    },
    execDuplex: async (command: string) => {
      calls.relays.push(command);
      return new PassThrough();
    }
  } as unknown as ITransport;
  const open = {
    cluster: { name: 'hpc', source: 'file', config: { type: 'ssh' } },
    transport,
    agent: { python: '/v1/bin/python', runtimeDir: '/w/runtime/abc' }
  } as unknown as IOpenCluster;
  return { open, calls };
}

describe('forwardingForbidden', () => {
  it('is true only for "administratively prohibited" (reason 1)', () => {
    expect(forwardingForbidden(refusal(1, 'open failed'))).toBe(true);
    expect(forwardingForbidden(refusal(2, 'Connection refused'))).toBe(false);
    expect(forwardingForbidden(new Error('open failed'))).toBe(false);
    expect(forwardingForbidden(undefined)).toBe(false);
  });
});

describe('SessionLink', () => {
  it('uses the tunnel where forwarding works, without a notice', async () => {
    const socket = new PassThrough();
    const { open, calls } = cluster(async () => socket);
    const sink = recordingSink();
    const link = new SessionLink();
    expect(await link.open(open, '127.0.0.1', 4000, sink)).toBe(socket);
    expect(calls.relays).toEqual([]);
    expect(sink.calls).toEqual([]);
  });

  it('falls back to the agent relay once refused, remembers it, and says so once', async () => {
    const { open, calls } = cluster(() =>
      Promise.reject(refusal(1, 'open failed'))
    );
    const link = new SessionLink();
    const first = recordingSink();
    await link.open(open, 'node 1', 4000, first);
    const second = recordingSink();
    await link.open(open, 'node 1', 4001, second);
    expect(calls.tunnels).toBe(1);
    expect(calls.relays).toEqual([
      "PYTHONDONTWRITEBYTECODE= /v1/bin/python -I -u /w/runtime/abc/agent.py relay 'node 1' 4000",
      "PYTHONDONTWRITEBYTECODE= /v1/bin/python -I -u /w/runtime/abc/agent.py relay 'node 1' 4001"
    ]);
    expect(first.text('stderr')).toBe(
      "[cluster-bridge] hpc forbids TCP forwarding; the session's bytes go through an exec relay\n"
    );
    expect(second.calls).toEqual([]);
  });

  it('leaves every other tunnel error as it is', async () => {
    const failure = refusal(2, 'Connection refused');
    const { open, calls } = cluster(() => Promise.reject(failure));
    const link = new SessionLink();
    await expect(link.open(open, '127.0.0.1', 4000)).rejects.toBe(failure);
    await expect(link.open(open, '127.0.0.1', 4000)).rejects.toBe(failure);
    expect(calls.tunnels).toBe(2);
    expect(calls.relays).toEqual([]);
  });
});
