import { chmodSync, closeSync, existsSync, fchmodSync, mkdirSync, openSync, statSync, writeFileSync, type Stats } from 'node:fs';

/**
 * A directory or file that someone other than Confide's user could read or change. Confide refuses
 * to start on one (exit 78, like any configuration problem), as PostgreSQL refuses a data directory
 * with "invalid permissions" and OpenSSH an "UNPROTECTED PRIVATE KEY FILE": the data directory and
 * the key hold every tenant's data and the key that unlocks it.
 */
export class UnsafePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafePathError';
  }
}

const octal = (mode: number) => `0${(mode & 0o777).toString(8).padStart(3, '0')}`;

/**
 * Refuses a path that group or others can access, or that another user owns (that user could
 * loosen its mode or swap its contents). Root is held to the same rule: a root-run Confide
 * still refuses a directory owned by another user. Windows has no POSIX modes or uids to check.
 */
function checkOwnerOnly(path: string, stats: Stats, label: string, privateMode: number): void {
  const uid = process.getuid?.();
  if (uid === undefined) return;
  if (stats.uid !== uid) {
    throw new UnsafePathError(
      `${label} ${path} is owned by uid ${stats.uid}, not by the user running Confide (uid ${uid}); run chown ${uid} ${path}, or run Confide as its owner`,
    );
  }
  if ((stats.mode & 0o077) !== 0) {
    throw new UnsafePathError(
      `${label} ${path} is accessible by group or others (mode ${octal(stats.mode)}); run chmod ${privateMode.toString(8)} ${path}`,
    );
  }
}

/** Creates `dir` with mode 0700 when it is missing; refuses an existing one that is not private to this user. */
export function ensurePrivateDirectory(dir: string, label: string): void {
  // mkdir's mode passes through the umask; set it exactly on a directory made here.
  if (mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(dir, 0o700);
  const stats = statSync(dir);
  if (!stats.isDirectory()) throw new UnsafePathError(`${label} ${dir} is not a directory`);
  checkOwnerOnly(dir, stats, label, 0o700);
}

/** Refuses an existing file that is not private to this user (a missing one throws ENOENT). */
export function checkPrivateFile(file: string, label: string): void {
  checkOwnerOnly(file, statSync(file), label, 0o600);
}

/**
 * Writes `content` to `file` with mode 0600, whatever the umask. The mode is set before any byte
 * is written, so a file that already existed with a looser mode never holds the new content openly.
 * `flag: 'wx'` refuses to overwrite.
 */
export function writePrivateFile(file: string, content: string, flag: 'w' | 'wx' = 'w'): void {
  const fd = openSync(file, flag, 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeFileSync(fd, content);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates `file` empty with mode 0600 when it is missing, and takes group and other access away
 * from it when it exists (files written by earlier versions, before this rule).
 */
export function ensurePrivateFile(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  restrictToOwner(file);
}

/** Sets mode 0600 on `file` if it exists. */
export function restrictToOwner(file: string): void {
  if (existsSync(file) && (statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
}
