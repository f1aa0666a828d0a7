// ESLint 9 flat config in the JupyterLab house style (formatting is Prettier's job: `npm run lint`
// runs prettier --check separately). The no-restricted-imports blocks keep the three worlds of src/
// apart: see docs/architecture.md, "Three worlds in src/".
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const prettierConfig = require('eslint-config-prettier');
const globals = require('globals');

const NODE_BUILTINS = [
  'assert',
  'buffer',
  'child_process',
  'cluster',
  'crypto',
  'dgram',
  'dns',
  'events',
  'fs',
  'fs/promises',
  'http',
  'http2',
  'https',
  'module',
  'net',
  'os',
  'path',
  'perf_hooks',
  'process',
  'readline',
  'stream',
  'tls',
  'tty',
  'url',
  'util',
  'v8',
  'vm',
  'worker_threads',
  'zlib'
];

const NODE_ONLY_PACKAGES = ['ssh2', 'zeromq', 'ssh-config'];

module.exports = tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      'lib/**',
      'labextension/**',
      'app/build/**',
      'bench/build/**',
      'coverage/**',
      '.cache/**',
      '.jupyter-data/**',
      'test-results/**',
      'playwright-report/**',
      'ui-tests/artifacts/**',
      'artifacts/**',
      'src/runtime/**'
    ]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // Before our rules: it turns off formatting rules, and we want `curly` back on.
  prettierConfig,
  {
    languageOptions: {
      globals: { ...globals.node }
    },
    rules: {
      curly: ['error', 'all'],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'prefer-arrow-callback': 'error',
      'no-var': 'error',
      'prefer-const': 'error',
      'no-console': 'off',
      '@typescript-eslint/naming-convention': [
        'error',
        {
          selector: 'interface',
          format: ['PascalCase'],
          custom: { regex: '^I[A-Z]', match: true }
        }
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { args: 'none', varsIgnorePattern: '^_', caughtErrors: 'none' }
      ],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-namespace': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-use-before-define': 'off'
    }
  },
  {
    // Browser code: no Node modules, no bridge code.
    files: ['src/frontend/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...NODE_BUILTINS, ...NODE_ONLY_PACKAGES].map(name => ({
            name,
            message: 'src/frontend runs in the browser: no Node modules.'
          })),
          patterns: [
            {
              regex: '^node:',
              message: 'src/frontend runs in the browser: no Node modules.'
            },
            {
              regex: '(^|/)bridge(/|$)',
              message:
                'src/frontend may not import bridge code; put shared types in src/shared.'
            }
          ]
        }
      ]
    }
  },
  {
    // Node code: no browser packages, no frontend code.
    files: ['src/bridge/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^@(jupyterlab|lumino)/',
              message: 'src/bridge runs in Node: no @jupyterlab/* or @lumino/*.'
            },
            {
              regex: '(^|/)frontend(/|$)',
              message:
                'src/bridge may not import frontend code; put shared types in src/shared.'
            }
          ]
        }
      ]
    }
  },
  {
    // Shared code: only itself (runs in both worlds).
    files: ['src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./)',
              message:
                'src/shared may import only from src/shared (relative ./ paths).'
            }
          ]
        }
      ]
    }
  },
  {
    files: ['**/*.spec.ts', 'tests/**/*.ts'],
    languageOptions: { globals: { ...globals.jest } }
  },
  {
    files: ['**/*.js', '**/*.cjs', 'bin/*'],
    rules: { '@typescript-eslint/no-var-requires': 'off' }
  }
);
