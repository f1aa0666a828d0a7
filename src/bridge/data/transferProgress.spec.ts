import type { IOutputSink } from '../jobs/types';
import {
  formatRate,
  formatSeconds,
  progressHtml,
  progressLine,
  TransferProgress
} from './transferProgress';

function sink(): IOutputSink & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    stream: (name, text) => calls.push(['stream', name, text]),
    display: (data, _m, id) =>
      calls.push(['display', String(id), String(data['text/plain'])]),
    updateDisplay: (data, _m, id) =>
      calls.push(['update', id, String(data['text/plain'])]),
    result: () => undefined,
    error: () => undefined
  };
}

describe('transferProgress', () => {
  it('says bytes, %, MB/s and time left', () => {
    expect(
      progressLine({
        seen: 512 * 1024 * 1024,
        moved: 400e6,
        total: 1024 * 1024 * 1024,
        elapsedMs: 2000
      })
    ).toBe('512 MiB of 1.0 GiB (50%), 200 MB/s, 2.7 s left');
    expect(progressLine({ seen: 0, moved: 0, total: 10, elapsedMs: 0 })).toBe(
      '0 B of 10 B (0%), 0.0 MB/s'
    );
    expect(formatRate(2.5e6)).toBe('2.5 MB/s');
    expect(formatSeconds(75)).toBe('1 min 15 s');
    expect(formatSeconds(7300)).toBe('2 h 1 min');
    expect(
      progressHtml('put <a>', { seen: 5, moved: 5, total: 10, elapsedMs: 1 })
    ).toMatch(/put &lt;a&gt;.*<progress max="10" value="5"/);
  });

  it('a quick copy prints only its summary', () => {
    const s = sink();
    const p = new TransferProgress(s, 'put x', { slowMs: 60000 });
    p.moved(10);
    p.finish('put x: 10 B in 0.1 s');
    expect(s.calls).toEqual([['stream', 'stdout', 'put x: 10 B in 0.1 s\n']]);
  });

  it('a slow copy shows one display, redraws it in place and ends it with the summary', async () => {
    jest.useFakeTimers();
    try {
      const s = sink();
      const p = new TransferProgress(s, 'get y', {
        slowMs: 1000,
        redrawMs: 250
      });
      p.setTotal(100);
      p.skipped(20);
      p.moved(30);
      jest.advanceTimersByTime(999);
      expect(s.calls).toEqual([]);
      jest.advanceTimersByTime(1);
      jest.advanceTimersByTime(500);
      p.finish('get y: done');
      jest.advanceTimersByTime(1000);
      const kinds = s.calls.map(c => c[0]);
      expect(kinds).toEqual(['display', 'update', 'update', 'update']);
      expect(new Set(s.calls.map(c => c[1]))).toEqual(new Set([p.id]));
      expect(s.calls[0][2]).toMatch(/^get y: 50 B of 100 B \(50%\)/);
      expect(s.calls[3][2]).toBe('get y: done');
    } finally {
      jest.useRealTimers();
    }
  });
});
