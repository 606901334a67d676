import { execFileSync } from 'node:child_process';

/** CLI tests run the compiled program, as users do; build it once per test run. */
export default function setup(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
