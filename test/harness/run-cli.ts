import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { confideCommand } from './confide-command.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the real `confide` command (compiled when dist/ is fresh, else from source through tsx: confide-command.ts) with the given environment, and `input` on its stdin. */
export function runCli(args: string[], env: Record<string, string>, input?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [...confideCommand(), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    encoding: 'utf8',
    timeout: 60_000,
    ...(input !== undefined ? { input } : {}),
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
