import { createRequire } from 'node:module';
import type * as Pkcs11js from 'pkcs11js';

export type Pkcs11 = typeof Pkcs11js;

/**
 * pkcs11js, loaded only when a deployment uses an HSM: a native addon that file and environment
 * keys never need (and a machine without it still starts them).
 */
export function pkcs11js(): Pkcs11 {
  return createRequire(import.meta.url)('pkcs11js') as Pkcs11;
}

/** One loaded PKCS#11 library (pkcs11js's PKCS11 object). */
export type Pkcs11Library = InstanceType<Pkcs11['PKCS11']>;

interface Loaded {
  library: Pkcs11Library;
  users: number;
}

const loaded = new Map<string, Loaded>();

/**
 * A PKCS#11 library, loaded and initialised once per process: its state is process-wide (a second
 * C_Initialize is refused, and C_Finalize from any user ends every user's sessions), so the master
 * key of a migration and the one it replaces share it, and it is finalised when the last lets go.
 * CKF_OS_LOCKING_OK lets the library lock for itself: without it SoftHSM assumes one thread.
 */
export function acquireModule(path: string): { library: Pkcs11Library; release: () => void } {
  let entry = loaded.get(path);
  if (!entry) {
    const { PKCS11, CKF_OS_LOCKING_OK } = pkcs11js();
    const library = new PKCS11();
    library.load(path);
    try {
      library.C_Initialize({ flags: CKF_OS_LOCKING_OK });
    } catch (error) {
      library.close();
      throw error;
    }
    entry = { library, users: 0 };
    loaded.set(path, entry);
  }
  entry.users += 1;
  const held = entry;
  let released = false;
  return {
    library: held.library,
    release() {
      if (released) return;
      released = true;
      held.users -= 1;
      if (held.users > 0) return;
      loaded.delete(path);
      try {
        held.library.C_Finalize();
      } finally {
        held.library.close();
      }
    },
  };
}
