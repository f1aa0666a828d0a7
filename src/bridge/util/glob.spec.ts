import { globToRegExp } from './glob';

describe('globToRegExp', () => {
  it('matches * and ? over the whole string, newlines included, the rest literally', () => {
    expect(globToRegExp('*.example.org').test('login.example.org')).toBe(true);
    expect(globToRegExp('*.example.org').test('loginXexampleXorg')).toBe(false);
    expect(globToRegExp('node?').test('node1')).toBe(true);
    expect(globToRegExp('node?').test('node12')).toBe(false);
    expect(globToRegExp('%%cluster a*').test('%%cluster a\nprint(1)')).toBe(
      true
    );
    expect(globToRegExp('[a]+(b)').test('[a]+(b)')).toBe(true);
    expect(globToRegExp('a').test('ab')).toBe(false);
  });
});
