import { spawn, spawnSync, type ChildProcess, type ChildProcessWithoutNullStreams, type StdioOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { confideCommand } from './confide-command.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What a `confide` command in a test runs with: PATH and HOME, and `env`, nothing else of this process's environment. */
const cliEnvironment = (env: Record<string, string>): Record<string, string> => ({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env });

/** Runs the real `confide` command (compiled when dist/ is fresh, else from source through tsx: confide-command.ts) with the given environment, and `input` on its stdin. */
export function runCli(args: string[], env: Record<string, string>, input?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [...confideCommand(), ...args], {
    cwd: ROOT,
    env: cliEnvironment(env),
    encoding: 'utf8',
    timeout: 60_000,
    ...(input !== undefined ? { input } : {}),
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Starts the same command as runCli without waiting for it: for one that runs on while the test acts, or is stopped by it. */
export function spawnCli(args: string[], env: Record<string, string>): ChildProcessWithoutNullStreams;
export function spawnCli(args: string[], env: Record<string, string>, stdio: StdioOptions): ChildProcess;
export function spawnCli(args: string[], env: Record<string, string>, stdio: StdioOptions = 'pipe'): ChildProcess {
  return spawn(process.execPath, [...confideCommand(), ...args], { cwd: ROOT, env: cliEnvironment(env), stdio });
}
