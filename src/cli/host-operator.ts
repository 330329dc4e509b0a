import { userInfo } from 'node:os';

/** The operating-system account that ran the command: security events name it as who acted (`host:<name>`). */
export function hostOperator(): { name: string } {
  try {
    return { name: userInfo().username };
  } catch {
    return { name: `uid ${process.getuid?.() ?? 'unknown'}` };
  }
}
