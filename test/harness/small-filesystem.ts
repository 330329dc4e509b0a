import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A small tmpfs mounted for one test: a real filesystem that runs out of space (ENOSPC) like a full disk does. */
export interface SmallFilesystem {
  readonly path: string;
  /** Writes a filler file until the filesystem refuses another byte. */
  fill(): void;
  /** Removes the filler: space returns. */
  free(): void;
  /** Frees, unmounts and removes the mount point; safe to call twice, and after a failed mount. */
  unmount(): void;
}

/**
 * Why the disk-full tests cannot run here, or undefined when they can: mounting needs root (and a
 * kernel that allows it in this container), so the tests skip with this reason rather than pass.
 */
export function cannotMount(): string | undefined {
  if (process.platform !== 'linux') return 'mounting a small filesystem needs Linux';
  if (process.getuid?.() !== 0) return 'mounting a small filesystem needs root';
  let probe: SmallFilesystem | undefined;
  try {
    probe = mountSmallFilesystem(1024 * 1024);
    return undefined;
  } catch (error) {
    return `mount -t tmpfs failed: ${(error as Error).message.split('\n')[0]}`;
  } finally {
    probe?.unmount();
  }
}

/**
 * Mounts a tmpfs of `sizeBytes` (mode 0700, as Confide wants its data directory), at `at` or at a
 * fresh folder under the temporary directory.
 */
export function mountSmallFilesystem(sizeBytes: number, at?: string): SmallFilesystem {
  const path = at ?? mkdtempSync(join(tmpdir(), 'confide-small-fs-'));
  mkdirSync(path, { recursive: true, mode: 0o700 });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, 'tmpfs', path], { stdio: 'pipe' });
  const filler = join(path, 'filler');
  let mounted = true;
  const fs: SmallFilesystem = {
    path,
    fill() {
      const fd = openSync(filler, 'a');
      try {
        // Big writes first, then smaller ones, down to a byte: every last block taken.
        for (const size of [1024 * 1024, 64 * 1024, 4096, 512, 1]) {
          const chunk = Buffer.alloc(size, 0x5a);
          for (;;) {
            try {
              if (writeSync(fd, chunk) < size) break;
            } catch (error) {
              if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
              break;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    free() {
      rmSync(filler, { force: true });
    },
    unmount() {
      if (!mounted) return;
      mounted = false;
      fs.free();
      execFileSync('umount', ['-l', path], { stdio: 'pipe' });
      if (!at) rmSync(path, { recursive: true, force: true });
    },
  };
  return fs;
}
