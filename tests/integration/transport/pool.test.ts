/**
 * TransportPool on the real sshd: a cluster's config changes while a cell's
 * command streams over the old connection. The command must finish on the
 * old connection, which is closed once it is done (not left open).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import type { IResolvedCluster } from '../../../src/shared/config';
import { TransportPool } from '../../../src/bridge/transport/pool';
import { sshCluster, sshd } from '../jobs/helpers';

describe('TransportPool over the real sshd', () => {
  const facts = sshd();
  const fifo = path.join(facts.home, `.cb-pool-fifo-${process.pid}`);
  const cluster = (workDir: string): IResolvedCluster => ({
    name: 'hpc',
    source: 'file',
    config: sshCluster(facts, { workDir })
  });

  beforeAll(() => {
    execFileSync('mkfifo', [fifo]);
    execFileSync('chown', [facts.user, fifo]);
  });
  afterAll(() => fs.rmSync(fifo, { force: true }));

  it('keeps the old connection until its stream ends, then closes it', async () => {
    const pool = new TransportPool({
      ssh: { agent: null, timeoutMs: 8000 },
      retiredIdleMs: 0
    });
    const old = pool.get(cluster('~/a'));
    let out = '';
    let ready: () => void;
    const started = new Promise<void>(resolve => (ready = resolve));
    const handle = old.stream(
      `exec 3<>'${fifo}'; echo ready; read line <&3; echo "got $line"`,
      {
        onStdout: chunk => {
          out += chunk.toString();
          if (out.includes('ready')) {
            ready();
          }
        }
      }
    );
    await started;
    const fresh = pool.get(cluster('~/b'));
    expect(fresh).not.toBe(old);
    expect((await fresh.exec('echo fresh')).stdout).toBe('fresh\n');
    expect(old.state).toBe('connected');
    // Fails (ENXIO) if the old connection's command was killed: nobody reads the fifo.
    const fd = fs.openSync(
      fifo,
      fs.constants.O_WRONLY | fs.constants.O_NONBLOCK
    );
    fs.writeSync(fd, 'go\n');
    fs.closeSync(fd);
    expect(await handle.done).toMatchObject({ code: 0 });
    expect(out).toBe('ready\ngot go\n');
    await pool.retiredClosed();
    expect(old.state).toBe('disconnected');
    expect(fresh.state).toBe('connected');
    await pool.closeAll();
  });
});
