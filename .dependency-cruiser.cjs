// The layer rules of lifeboat (see docs/design.md, "Layers"). A lower layer never imports a
// higher one; heavy SDKs stay inside the one adapter folder that needs them. `npm run layers`
// fails the build on any breach; test/layers.test.ts proves it does with a fixture.
/** @type {import('dependency-cruiser').IConfiguration} */
const upper = (...layers) => layers.map((l) => `^src/${l}/`);

module.exports = {
  forbidden: [
    {
      name: 'util-is-a-leaf',
      comment: 'util imports nothing of ours',
      severity: 'error',
      from: { path: '^src/util/' },
      to: { path: '^src/', pathNot: '^src/util/' },
    },
    {
      name: 'core-only-util',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: ['^src/util/', '^src/core/'] },
    },
    {
      name: 'storage-only-core-util',
      comment: 'a storage backend knows nothing of the format, sources or use cases',
      severity: 'error',
      from: { path: '^src/storage/' },
      to: { path: '^src/', pathNot: ['^src/util/', '^src/core/', '^src/storage/'] },
    },
    {
      name: 'storage-opened-through-its-registry',
      comment: 'a backend is opened through storage/registry.ts; only wrappers and tests reach one directly',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/storage/'] },
      to: { path: '^src/storage/(local|rest|s3|memory)/' },
    },
    {
      name: 'storage-backends-apart',
      comment: 'a backend never imports another backend; wrappers see only storage.ts',
      severity: 'error',
      from: { path: '^src/storage/([^/]+)/' },
      to: { path: '^src/storage/[^/]+/', pathNot: ['^src/storage/$1/'] },
    },
    {
      name: 'repo-sees-storage-interface-only',
      severity: 'error',
      from: { path: '^src/repo/' },
      to: { path: '^src/', pathNot: ['^src/util/', '^src/core/', '^src/repo/', '^src/storage/storage\\.ts$', '^src/version\\.ts$'] },
    },
    {
      name: 'codec-behind-the-repository',
      comment: 'the codec pool (threads, encoding) is the engine\'s own; callers above it say repo/bulk-data.ts at most',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/repo/'] },
      to: { path: '^src/repo/codec/' },
    },
    {
      name: 'stack-format-behind-its-port',
      comment: 'the stack snapshot format (repo/stack) is reached through core/snapshot-store.ts; only app/ wires it',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/repo/stack/', '^src/app/'] },
      to: { path: '^src/repo/stack/' },
    },
    {
      name: 'sources-and-transport-only-core-util',
      comment: 'a source knows nothing of where bytes go',
      severity: 'error',
      from: { path: '^src/(sources|transport)/' },
      to: { path: '^src/', pathNot: ['^src/util/', '^src/core/', '^src/sources/', '^src/transport/'] },
    },
    {
      name: 'sources-apart',
      severity: 'error',
      from: { path: '^src/sources/([^/]+)/' },
      to: { path: '^src/sources/[^/]+/', pathNot: ['^src/sources/$1/'] },
    },
    {
      name: 'ops-sees-interfaces',
      comment: 'use cases import interfaces (core), never concrete engines',
      severity: 'error',
      from: { path: '^src/ops/' },
      to: { path: '^src/', pathNot: ['^src/util/', '^src/core/', '^src/ops/'] },
    },
    {
      name: 'config-below-app',
      severity: 'error',
      comment: 'config sees of storage only the registry (the schema lists its schemes)',
      from: { path: '^src/config/' },
      to: { path: upper('app', 'cli', 'daemon', 'server', 'ops', 'repo', 'storage'), pathNot: '^src/storage/registry\\.ts$' },
    },
    {
      name: 'app-below-faces',
      severity: 'error',
      from: { path: '^src/app/' },
      to: { path: upper('cli', 'daemon', 'server') },
    },
    {
      name: 'daemon-server-above-app',
      severity: 'error',
      from: { path: '^src/(daemon|server)/' },
      to: { path: upper('cli', 'repo', 'storage', 'sources', 'transport') },
    },
    {
      name: 'heavy-sdks-in-their-adapter',
      comment: 'pg, AWS SDK, libsodium... only inside their own adapter folder',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/storage/s3/', '^src/sources/', '^src/repo/crypto/'] },
      to: { path: 'node_modules/(pg|mysql2|@aws-sdk|@smithy|neo4j-driver|libsodium-wrappers-sumo|better-sqlite3)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
    exclude: { path: '\\.test\\.ts$' },
  },
};
