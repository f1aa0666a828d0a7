import { ENV_TAIL_LINES, EnvProgress } from './envProgress';
import type { IOutputSink } from './types';

function recordingSink(): IOutputSink & { shown: string[]; kinds: string[] } {
  const shown: string[] = [];
  const kinds: string[] = [];
  const record = (kind: string, data: { [mime: string]: unknown }) => {
    kinds.push(kind);
    shown.push(String(data['text/plain']));
  };
  return {
    shown,
    kinds,
    stream: () => void kinds.push('stream'),
    display: data => record('display', data),
    updateDisplay: data => record('update', data),
    result: () => void kinds.push('result'),
    error: () => void kinds.push('error')
  };
}

describe('EnvProgress', () => {
  it('shows the build in one display, then only its closing line', () => {
    const sink = recordingSink();
    const env = new EnvProgress(sink, 'cb-env-1');
    env.add('Building conda environment cb-1 with conda\n$ conda create');
    env.add(' -y -n cb-1\nCollecting numpy\n');
    env.add('Environment cb-1 ready in 12.3 s.\n');
    env.settle(true);
    expect(sink.kinds).toEqual(['display', 'update', 'update', 'update']);
    expect(sink.shown[0]).toBe(
      'Building conda environment cb-1 with conda\n$ conda create\n'
    );
    expect(sink.shown[1]).toContain(
      '$ conda create -y -n cb-1\nCollecting numpy'
    );
    expect(sink.shown[3]).toBe('Environment cb-1 ready in 12.3 s.\n');
    env.add('late text\n');
    env.settle(true);
    expect(sink.kinds).toHaveLength(4);
  });

  it('keeps the tail of a failed build and renders carriage returns as a terminal', () => {
    const sink = recordingSink();
    const env = new EnvProgress(sink, 'cb-env-1');
    for (let i = 0; i < ENV_TAIL_LINES + 10; i++) {
      env.add(`line ${i}\n`);
    }
    env.add('Downloading 10%\rDownloading 50%\rDownloading 100%\n');
    env.settle(false);
    const last = sink.shown[sink.shown.length - 1];
    const lines = last.trimEnd().split('\n');
    expect(lines).toHaveLength(ENV_TAIL_LINES);
    expect(lines[lines.length - 1]).toBe('Downloading 100%');
    expect(last).not.toContain('line 0\n');
    expect(sink.kinds.filter(k => k === 'display')).toHaveLength(1);
  });

  it('shows nothing when nothing was built', () => {
    const sink = recordingSink();
    const env = new EnvProgress(sink, 'cb-env-1');
    env.settle(true);
    env.add('');
    expect(sink.kinds).toEqual([]);
  });
});
