import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import type { IResolvedCluster } from '../../shared/config';
import { LocalTransport } from './local';
import { TransportPool } from './pool';
import { SshTransport } from './ssh';

function cluster(
  name: string,
  config: IResolvedCluster['config']
): IResolvedCluster {
  return { name, source: 'file', config };
}

describe('TransportPool', () => {
  it('gives one transport per cluster, of the right kind', async () => {
    const pool = new TransportPool({ ssh: { agent: null, sources: {} } });
    const local = pool.get(cluster('local', { type: 'local' }));
    expect(local).toBeInstanceOf(LocalTransport);
    expect(pool.get(cluster('local', { type: 'local' }))).toBe(local);
    const hpc = pool.get(cluster('hpc', { type: 'ssh', host: 'h.example' }));
    expect(hpc).toBeInstanceOf(SshTransport);
    expect(hpc.cluster).toBe('hpc');
    expect(pool.get(cluster('hpc', { type: 'ssh', host: 'h.example' }))).toBe(
      hpc
    );
    expect(pool.peek('hpc')).toBe(hpc);
    expect(pool.peek('nope')).toBeUndefined();
    await pool.closeAll();
    expect(pool.peek('hpc')).toBeUndefined();
  });

  describe('a config change under a running cell', () => {
    let dir: string;
    let fifo: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-pool-'));
      fifo = path.join(dir, 'go');
      execFileSync('mkfifo', [fifo]);
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** A command that says `ready`, then waits for a line on the fifo and echoes it. */
    const waiting = () =>
      `exec 3<>'${fifo}'; echo ready; read line <&3; echo "got $line"`;
    /** Writes the line; fails (ENXIO) when nothing is reading the fifo any more. */
    const release = () => {
      const fd = fs.openSync(
        fifo,
        fs.constants.O_WRONLY | fs.constants.O_NONBLOCK
      );
      fs.writeSync(fd, 'go\n');
      fs.closeSync(fd);
    };

    it('keeps the old transport until its stream ends, then closes it', async () => {
      const pool = new TransportPool({ retiredIdleMs: 0 });
      const old = pool.get(cluster('local', { type: 'local', workDir: '~/a' }));
      let out = '';
      let ready: () => void;
      const started = new Promise<void>(r => (ready = r));
      const handle = old.stream(waiting(), {
        onStdout: chunk => {
          out += chunk.toString();
          if (out.includes('ready')) {
            ready();
          }
        }
      });
      await started;
      const fresh = pool.get(
        cluster('local', { type: 'local', workDir: '~/b' })
      );
      expect(fresh).not.toBe(old);
      expect(pool.retired).toBe(1);
      expect(old.state).toBe('connected');
      release();
      expect(await handle.done).toMatchObject({ code: 0 });
      expect(out).toBe('ready\ngot go\n');
      await pool.retiredClosed();
      expect(old.state).toBe('disconnected');
      expect(pool.retired).toBe(0);
      expect(fresh.state).toBe('connected');
      await pool.closeAll();
    });

    it('closes a retired transport at shutdown even while it is in use', async () => {
      const pool = new TransportPool({ retiredIdleMs: 0 });
      const old = pool.get(cluster('local', { type: 'local', workDir: '~/a' }));
      const handle = old.stream('exec sleep 600', {
        onStdout: () => undefined
      });
      pool.get(cluster('local', { type: 'local', workDir: '~/b' }));
      expect(pool.retired).toBe(1);
      await pool.closeAll();
      expect((await handle.done).code).toBeNull();
      expect(old.state).toBe('disconnected');
      expect(pool.retired).toBe(0);
    });

    it('closes an idle old transport at once', async () => {
      const pool = new TransportPool({ retiredIdleMs: 0 });
      const old = pool.get(cluster('local', { type: 'local', workDir: '~/a' }));
      expect((await old.exec('true')).code).toBe(0);
      pool.get(cluster('local', { type: 'local', workDir: '~/b' }));
      await pool.retiredClosed();
      expect(old.state).toBe('disconnected');
    });
  });

  it('replaces a transport whose config changed', async () => {
    const pool = new TransportPool();
    const a = pool.get(cluster('hpc', { type: 'ssh', host: 'a' }));
    const b = pool.get(cluster('hpc', { type: 'ssh', host: 'b' }));
    expect(b).not.toBe(a);
    expect((b as SshTransport).config.host).toBe('b');
    await pool.drop('hpc');
    expect(pool.peek('hpc')).toBeUndefined();
  });
});
