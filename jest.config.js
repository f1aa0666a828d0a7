/**
 * Unit tests (`npm run test:unit`): bridge and shared code in Node, frontend code in jsdom with
 * JupyterLab's own jest setup (@jupyterlab/testing: environment, shims, resolver, ESM
 * transform list). Integration tests live in jest.integration.config.js.
 */
const jlab = require('@jupyterlab/testing/lib/jest-config')(__dirname);

// ES-module packages that babel must transform: JupyterLab's own list plus @jupyterlab/*
// itself (inside the JupyterLab monorepo those are symlinks, outside they are in node_modules).
const esModules = [
  '@codemirror',
  '@jupyter/react-components',
  '@jupyter/web-components',
  '@jupyter/ydoc',
  '@jupyterlab/',
  '@lezer',
  '@marijn',
  '@microsoft',
  'color',
  'exenv-es6',
  'lib0',
  'marked',
  'nanoid',
  'vscode-ws-jsonrpc',
  'y-protocols',
  'y-websocket',
  'yjs'
].join('|');

const tsJest = ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }];

module.exports = {
  testTimeout: 30000,
  projects: [
    {
      displayName: 'bridge',
      testEnvironment: 'node',
      roots: ['<rootDir>/src/bridge', '<rootDir>/src/shared'],
      testMatch: ['**/*.spec.ts'],
      transform: { '^.+\\.tsx?$': tsJest }
    },
    {
      displayName: 'frontend',
      roots: ['<rootDir>/src/frontend'],
      testMatch: ['**/*.spec.ts', '**/*.spec.tsx'],
      testEnvironment: jlab.testEnvironment,
      setupFiles: jlab.setupFiles,
      resolver: jlab.resolver,
      moduleFileExtensions: jlab.moduleFileExtensions,
      moduleNameMapper: {
        ...jlab.moduleNameMapper,
        '\\.svg$': '@jupyterlab/testing/lib/jest-file-mock.js'
      },
      testPathIgnorePatterns: jlab.testPathIgnorePatterns,
      transform: {
        '^.+\\.tsx?$': tsJest,
        // @jupyterlab/* ship ES modules; babel turns them into CommonJS for jest.
        '^.+\\.m?jsx?$': [
          'babel-jest',
          {
            presets: [['@babel/preset-env', { targets: { node: 'current' } }]]
          }
        ]
      },
      transformIgnorePatterns: [`/node_modules/(?!(${esModules})).+`]
    }
  ]
};
