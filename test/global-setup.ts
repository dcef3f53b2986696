import { execFileSync } from 'node:child_process';

/** The end-to-end tests run the real `bin/pingknock`, so they must run the current source. */
export default function setup(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
}
