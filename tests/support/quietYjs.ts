/**
 * Frontend unit tests build cell models outside a notebook document, and
 * yjs warns about each one ("Invalid access", "[yjs#509]"): noise that hides
 * real warnings. Call once at the top of a spec file.
 */
export function quietYjsWarnings(): void {
  const warn = console.warn;
  beforeAll(() => {
    jest.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
      const text = String(args[0]);
      if (!text.startsWith('Invalid access') && !text.startsWith('[yjs#509]')) {
        warn(...args);
      }
    });
  });
  afterAll(() => jest.restoreAllMocks());
}
