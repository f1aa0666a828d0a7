import {
  doctorChecklist,
  doctorReport,
  doctorVerdict,
  IDoctorLine,
  SYMBOL_MARKS
} from './doctor';

const ok: IDoctorLine = { check: 'python', verdict: 'ok', detail: '3.6' };
const warn: IDoctorLine = { check: 'gpus', verdict: 'warn', detail: 'none' };
const fail: IDoctorLine = { check: 'venv', verdict: 'fail', detail: 'no pip' };

describe('doctor verdict', () => {
  it('is ready without failures, counting warnings', () => {
    expect(doctorVerdict([ok])).toEqual({ ready: true, text: 'ready' });
    expect(doctorVerdict([ok, warn])).toEqual({
      ready: true,
      text: 'ready, with 1 warning'
    });
    expect(doctorVerdict([warn, warn]).text).toBe('ready, with 2 warnings');
  });

  it('is not ready with a failure', () => {
    expect(doctorVerdict([fail, warn])).toEqual({
      ready: false,
      text: 'NOT READY (1 failed, 1 warning)'
    });
    expect(doctorVerdict([fail, fail]).text).toBe('NOT READY (2 failed)');
  });

  it('aligns the checklist and ends the report with the verdict', () => {
    expect(doctorChecklist([ok, fail])).toEqual([
      '[ ok ] python      3.6',
      '[FAIL] venv        no pip'
    ]);
    expect(doctorChecklist([warn], SYMBOL_MARKS)).toEqual([
      '! gpus        none'
    ]);
    expect(doctorReport('x', [ok, warn]).split('\n')).toEqual([
      'Doctor for cluster x',
      '[ ok ] python      3.6',
      '[warn] gpus        none',
      'x: ready, with 1 warning'
    ]);
  });
});
