// Lint rules: typescript-eslint's recommended set plus a few that catch real bugs in
// stream and async code. Style is left to the compiler and review.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'bench/work/**', 'test/fixtures/**', '.dependency-cruiser.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', WebAssembly: 'readonly', queueMicrotask: 'readonly', performance: 'readonly', structuredClone: 'readonly', fetch: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
      'no-constant-condition': ['error', { checkLoops: false }],
      'eqeqeq': ['error', 'smart'],
    },
  },
  {
    // Time only through src/util/clock.ts, so schedules, retention, locks and reports can be
    // tested with a clock a test moves (docs/design.md, "Layers").
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.test.ts', 'src/util/clock.ts'],
    rules: {
      'no-restricted-syntax': ['error',
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'read the time through src/util/clock.ts (nowMs, or a Clock handed in)' },
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'read the time through src/util/clock.ts (nowDate, or a Clock handed in)' },
      ],
    },
  },
);
