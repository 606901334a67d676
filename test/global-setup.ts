import { spawnSync } from 'node:child_process';

/**
 * CLI tests run the compiled program, as users do; build it once per test run. Type errors do not stop the
 * build (tsc still emits, and `npm test` type-checks on its own), so one broken file fails its own tests only.
 */
export default function setup(): void {
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  if (r.error) throw r.error;
}
