/** Unit tests: bridge/shared in node, frontend with jsdom. Integration tests live in jest.integration.config.js. */
module.exports = {
  projects: [
    {
      displayName: 'bridge',
      testEnvironment: 'node',
      roots: ['<rootDir>/src/bridge', '<rootDir>/src/shared'],
      testMatch: ['**/*.spec.ts'],
      transform: { '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.json', isolatedModules: true }] }
    }
  ]
};
