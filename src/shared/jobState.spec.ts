import {
  END_STATES,
  endStateOf,
  isEndPhase,
  isEndState,
  isJobOver,
  phaseOfEnd,
  shownState
} from './jobState';

describe('job state', () => {
  it('knows which phases end a job', () => {
    expect(['done', 'failed', 'cancelled'].map(isEndPhase)).toEqual([
      true,
      true,
      true
    ]);
    expect(
      ['connecting', 'queued', 'running', 'bogus'].map(isEndPhase)
    ).toEqual([false, false, false, false]);
  });

  it('a job is over with an end phase or an end state', () => {
    expect(isJobOver({ phase: 'running' })).toBe(false);
    expect(isJobOver({ phase: 'done' })).toBe(true);
    expect(isJobOver({ phase: 'running', endState: 'lost' })).toBe(true);
    expect(isJobOver({ phase: 'queued', endState: null })).toBe(false);
  });

  it('maps every end state to a phase', () => {
    expect(END_STATES.map(phaseOfEnd)).toEqual([
      'done',
      'failed',
      'cancelled',
      'failed',
      'failed',
      'failed',
      'failed',
      'failed'
    ]);
  });

  it('reads the end state, falling back on the phase', () => {
    expect(endStateOf({ phase: 'failed', endState: 'timeout' })).toBe(
      'timeout'
    );
    expect(endStateOf({ phase: 'done' })).toBe('completed');
    expect(endStateOf({ phase: 'cancelled' })).toBe('cancelled');
    expect(endStateOf({ phase: 'failed' })).toBe('failed');
    for (const state of END_STATES) {
      expect(endStateOf({ phase: phaseOfEnd(state), endState: state })).toBe(
        state
      );
    }
  });

  it('recognises end state names', () => {
    expect(END_STATES.every(isEndState)).toBe(true);
    expect(isEndState('running')).toBe(false);
    expect(isEndState(undefined)).toBe(false);
    expect(isEndState(3)).toBe(false);
  });

  it('shows the end state once known, else the phase', () => {
    expect(shownState({ phase: 'queued' })).toBe('queued');
    expect(shownState({ phase: 'failed', endState: 'timeout' })).toBe(
      'timeout'
    );
  });
});
