/**
 * Sessions on a host whose sshd forbids TCP forwarding (the test sshd's
 * `nofwd` instance: AllowTcpForwarding no, as on many HPC login nodes): the
 * tunnel is refused, the session's bytes go through the agent's `relay` on
 * an exec channel. Through the real kernel (nofwd_check.py), on a direct host
 * and in a SLURM and a Grid Engine allocation (the relay then reaches the
 * session on its node): state across cells, the notice once, interrupt, stop,
 * and no relay process left. Below it, the transport facts the fallback
 * relies on.
 */
import * as fs from 'fs';
import * as path from 'path';

import { forwardingForbidden } from '../../../src/bridge/sessions/sessionLink';
import { TransportError } from '../../../src/bridge/transport/errors';
import { sshCluster, sshd } from '../jobs/helpers';
import { kernelEnv, PYTHON, requirePython, run } from '../kernel/helpers';
import { service } from '../schedulers/helpers';
import { loadSshdEnv, targetTransport } from '../transport/sshdEnv';

const SCRIPT = path.join(__dirname, 'nofwd_check.py');
const NOTICE =
  "[cluster-bridge] it-nofwd forbids TCP forwarding; the session's bytes go through an exec relay\n";

function nofwdPort(): number {
  const port = Number(loadSshdEnv().SSHD_NOFWD_PORT);
  if (!port) {
    throw new Error(
      'the test sshd has no nofwd instance (SSHD_NOFWD_PORT): run scripts/services/sshd.sh start'
    );
  }
  return port;
}

/** Everything a cell printed to stderr. */
const stderrOf = (cell: { stderr: string }) => cell.stderr;

describe('sessions where the sshd forbids TCP forwarding', () => {
  const mark = `.cb-nofwd-it-${process.pid}`;
  let facts: ReturnType<typeof sshd>;
  beforeAll(() => {
    requirePython(['jupyter_client']);
    facts = sshd();
  });
  afterAll(() => {
    fs.rmSync(path.join(facts.home, mark), { recursive: true, force: true });
  });

  it.each(['direct', 'slurm', 'sge'] as const)(
    'runs a session on %s through the exec relay: state, one notice, interrupt, stop, no relay left',
    async kind => {
      if (kind !== 'direct') {
        service(kind);
      }
      const k = kernelEnv();
      try {
        const config = path.join(k.dir, 'clusters.json');
        const cluster = sshCluster(facts, {
          port: nofwdPort(),
          workDir: `~/${mark}`,
          ...(kind === 'direct' ? {} : { scheduler: kind })
        });
        fs.writeFileSync(
          config,
          JSON.stringify({ clusters: { 'it-nofwd': cluster } })
        );
        const result = await run(PYTHON, [SCRIPT, 'it-nofwd', mark], {
          env: { ...k.env, CLUSTER_BRIDGE_CONFIG: config },
          timeoutMs: 240000
        });
        if (result.code !== 0) {
          throw new Error(
            `nofwd_check.py failed (exit ${result.code}):\n${result.stderr}\n${result.stdout.slice(0, 4000)}`
          );
        }
        const r = JSON.parse(result.stdout);
        const failed = (cell: { reply: { status: string } }) =>
          cell.reply.status === 'ok' ? '' : JSON.stringify(cell).slice(0, 2000);
        expect(failed(r.set)).toBe('');
        const pid = r.set.result;
        // The cell that started the session says once that its bytes are relayed.
        expect(stderrOf(r.set)).toContain(NOTICE);
        // In an allocation of the scheduler where there is one.
        expect(failed(r.where)).toBe('');
        if (kind === 'direct') {
          expect(r.where.result).toBeNull(); // None shows no result
        } else {
          expect(r.where.result).toMatch(/^'\d+'$/);
        }
        expect(failed(r.get)).toBe('');
        expect(r.get.stdout).toBe('42\n');
        expect(r.get.result).toBe(pid);
        expect(stderrOf(r.get)).not.toContain('forbids TCP forwarding');
        // One relay for the session, kept across cells (not one per cell).
        expect(r.relays_running).toHaveLength(1);
        expect(r.relays_after_get).toEqual(r.relays_running);
        // Interrupt reaches the cell through the relay; the namespace stays.
        expect(r.interrupt.reply.status).toBe('error');
        expect(r.interrupt.error.ename).toBe('KeyboardInterrupt');
        expect(failed(r.after_interrupt)).toBe('');
        expect(r.after_interrupt.result).toBe('41');
        expect(stderrOf(r.after_interrupt)).not.toContain('forbids');
        // Stop ends the session and its relay.
        expect(r.stop.stdout).toMatch(/Stopped the session/);
        expect(r.session_gone).toBe(true);
        expect(r.relays_after_stop).toEqual([]);
        expect(r.relays_gone).toBe(true);
      } finally {
        k.dispose();
      }
    },
    300000
  );
});

describe('the transport facts the relay fallback relies on', () => {
  const env = loadSshdEnv();

  it('a refused forward (AllowTcpForwarding no) is told apart from a closed port', async () => {
    const nofwd = targetTransport(env, { port: nofwdPort() });
    const target = targetTransport(env);
    try {
      const refused = await nofwd.tunnel('127.0.0.1', 9).catch(e => e);
      expect(refused).toBeInstanceOf(TransportError);
      expect(refused.message).toMatch(
        /administratively prohibited|open failed/
      );
      expect(forwardingForbidden(refused)).toBe(true);
      // Forwarding allowed, nothing listening: a connect failure, not "forbidden".
      const closed = await target.tunnel('127.0.0.1', 9).catch(e => e);
      expect(closed).toBeInstanceOf(TransportError);
      expect(forwardingForbidden(closed)).toBe(false);
    } finally {
      await nofwd.close();
      await target.close();
    }
  }, 60000);

  it('execDuplex carries raw bytes both ways and puts stderr in the error of a failed command', async () => {
    const t = targetTransport(env, { port: nofwdPort() });
    try {
      const cat = await t.execDuplex('cat');
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const echoed = new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        cat.on('data', (c: Buffer) => chunks.push(c));
        cat.on('end', () => resolve(Buffer.concat(chunks)));
        cat.on('error', reject);
      });
      cat.end(bytes);
      expect((await echoed).equals(bytes)).toBe(true);

      const failing = await t.execDuplex('echo "no such port" >&2; exit 3');
      const err = await new Promise<Error>(resolve => {
        failing.on('error', resolve);
        failing.resume();
      });
      expect(err.message).toBe('itest: it exited with 3: no such port');
    } finally {
      await t.close();
    }
  }, 60000);
});
