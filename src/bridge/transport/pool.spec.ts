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
