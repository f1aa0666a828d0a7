import * as fs from 'fs';
import type { Duplex } from 'stream';

import { LocalTransport } from './local';
import { TransportPool } from './pool';

function collect(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** The process is gone (reaped): no /proc entry left. */
const gone = (pid: number): boolean => !fs.existsSync(`/proc/${pid}`);

describe('execDuplex (a local child process)', () => {
  const t = new LocalTransport();

  it('carries raw bytes both ways and ends when the command exits 0', async () => {
    const cat = await t.execDuplex('cat');
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 256));
    const echoed = collect(cat);
    cat.end(bytes);
    expect((await echoed).equals(bytes)).toBe(true);
  });

  it('fails with the exit code and stderr of a failed command', async () => {
    const failing = await t.execDuplex(
      'echo "relay: cannot connect to 127.0.0.1:9" >&2; exit 2'
    );
    await expect(collect(failing)).rejects.toThrow(
      'local: it exited with 2: relay: cannot connect to 127.0.0.1:9'
    );
  });

  it('stops the command when destroyed', async () => {
    const sleeper = await t.execDuplex('echo $$; exec sleep 100');
    const pid = await new Promise<number>(resolve =>
      sleeper.once('data', (c: Buffer) => resolve(Number(String(c).trim())))
    );
    expect(gone(pid)).toBe(false);
    sleeper.destroy();
    const end = Date.now() + 5000;
    while (!gone(pid) && Date.now() < end) {
      await new Promise(r => setTimeout(r, 20));
    }
    expect(gone(pid)).toBe(true);
  });

  it('counts as use of a pooled transport until it closes', async () => {
    const pool = new TransportPool({ retiredIdleMs: 0 });
    const first = pool.get({
      name: 'here',
      source: 'file',
      config: { type: 'local', workDir: '/tmp/a' }
    });
    const cat = await first.execDuplex('cat');
    pool.get({
      name: 'here',
      source: 'file',
      config: { type: 'local', workDir: '/tmp/b' }
    });
    await new Promise(r => setTimeout(r, 50));
    expect(pool.retired).toBe(1); // still open under the stream
    const done = collect(cat);
    cat.end('x');
    await done;
    await pool.retiredClosed();
    expect(pool.retired).toBe(0);
  });
});
