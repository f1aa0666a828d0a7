import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { shellQuote } from '../util/quote';
import { isTransportError } from './errors';
import { LocalTransport } from './local';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) {
      throw new Error('condition not met in time');
    }
    await new Promise(r => setTimeout(r, 20));
  }
}

describe('LocalTransport', () => {
  const t = new LocalTransport();
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-local-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs a command under /bin/sh in the home directory', async () => {
    await t.connect();
    expect(t.state).toBe('connected');
    const r = await t.exec('pwd; echo err >&2; exit 3');
    expect(r).toEqual({
      stdout: os.homedir() + '\n',
      stderr: 'err\n',
      code: 3
    });
  });

  it('passes stdin and a quoted environment', async () => {
    const value = `a 'b' $(c) \`d\`\n`;
    const r = await t.exec('cat; printf %s "$CB_X"', {
      stdin: 'in\n',
      env: { CB_X: value }
    });
    expect(r.stdout).toBe('in\n' + value);
  });

  it('streams chunks and reports the exit status', async () => {
    const chunks: Buffer[] = [];
    const h = t.stream('for i in 1 2 3; do echo $i; done; exit 1', {
      onStdout: c => chunks.push(c)
    });
    const r = await h.done;
    expect(Buffer.concat(chunks).toString()).toBe('1\n2\n3\n');
    expect(r.code).toBe(1);
  });

  it('aborting exec kills the whole process group', async () => {
    const pidFile = path.join(dir, 'pid');
    const ac = new AbortController();
    const p = t.exec(`sleep 60 & echo $! > ${shellQuote(pidFile)}; wait`, {
      signal: ac.signal
    });
    await waitFor(
      () =>
        fs.existsSync(pidFile) &&
        fs.readFileSync(pidFile, 'utf8').endsWith('\n')
    );
    const child = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(alive(child)).toBe(true);
    ac.abort();
    await expect(p).rejects.toMatchObject({
      kind: 'aborted',
      name: 'AbortError'
    });
    await waitFor(() => !alive(child));
  });

  it('close() on a stream ends it with a signal', async () => {
    const h = t.stream('echo ready; sleep 60', { onStdout: () => undefined });
    await new Promise(r => setTimeout(r, 100));
    h.close();
    const r = await h.done;
    expect(r.code).toBeNull();
    expect(r.signal).toBe('SIGTERM');
  });

  it('rejects an already aborted signal without running anything', async () => {
    const ac = new AbortController();
    ac.abort();
    const marker = path.join(dir, 'ran');
    await expect(
      t.exec(`touch ${shellQuote(marker)}`, { signal: ac.signal })
    ).rejects.toMatchObject({ kind: 'aborted' });
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('stops a command whose output exceeds maxBuffer', async () => {
    const err = await t
      .exec('yes', { maxBuffer: 1 << 20 })
      .catch((e: unknown) => e);
    expect(isTransportError(err, 'overflow')).toBe(true);
  });

  it('keeps binary output intact in streams', async () => {
    const chunks: Buffer[] = [];
    await t.stream("printf '\\000\\377\\376abc'", {
      onStdout: c => chunks.push(c)
    }).done;
    expect(Buffer.concat(chunks)).toEqual(
      Buffer.from([0, 255, 254, 97, 98, 99])
    );
  });

  it('writes files atomically with an exact mode and reads them back', async () => {
    const file = path.join(dir, "we'ird $(name)\nfile");
    const data = Buffer.from([0, 1, 2, 255]);
    await t.writeFile(file, data, 0o640);
    expect(fs.statSync(file).mode & 0o777).toBe(0o640);
    expect(await t.readFile(file)).toEqual(data);
    await t.writeFile(file, 'second');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect((await t.readFile(file)).toString()).toBe('second');
    expect(fs.readdirSync(dir)).toEqual([path.basename(file)]);
  });

  it('reports home', async () => {
    expect(await t.home()).toBe(os.homedir());
  });
});
