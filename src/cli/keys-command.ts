import { setTimeout as sleep } from 'node:timers/promises';
import { withServices } from './with-services.js';
import { hostOperator } from './host-operator.js';
import type { Services } from '../app/services.js';
import { SYSTEM_OWNER } from '../keys/key-ring.js';
import { allKeys } from '../key-rotation/key-status.js';
import { algorithmForConfig } from '../keys/algorithms.js';
import { keyHierarchyInventory } from '../keys/crypto-inventory.js';
import { tlsInventory } from '../http/tls-inventory.js';
import { inventoryText, type CryptoInventory } from './keys-status-text.js';
import { POLL_MS, ReencryptionWorker } from '../key-rotation/reencryption-worker.js';
import { rotateKey, tenantOwners } from '../key-rotation/rotate-key.js';
import { progressOf, runningJobs, type JobProgress } from '../key-rotation/rotation-jobs.js';
import { tenantExists } from '../tenants/tenant-repository.js';

export interface KeysRotateOptions {
  tenant?: string;
  allTenants?: boolean;
  system?: boolean;
  wait?: boolean;
  json?: boolean;
}

async function ownersToRotate(services: Services, options: KeysRotateOptions): Promise<string[]> {
  const chosen = [options.tenant !== undefined, options.allTenants === true, options.system === true].filter(Boolean).length;
  if (chosen !== 1) throw new Error('name exactly one of --tenant ID, --all-tenants, --system');
  if (options.system) return [SYSTEM_OWNER];
  if (options.allTenants) return tenantOwners(services);
  if (!(await tenantExists(services.db, options.tenant!))) throw new Error(`no tenant ${options.tenant}`);
  return [options.tenant!];
}

/**
 * Rotates the named owners' data keys. The running server's re-encryption worker does the rest in
 * the background; `--wait` does it here instead (under the same lease, so never twice at once) and
 * returns when every value is re-encrypted and the old versions are destroyed.
 */
export async function keysRotateCommand(options: KeysRotateOptions): Promise<number> {
  return withServices(async (services) => {
    const owners = await ownersToRotate(services, options);
    const operator = hostOperator().name;
    const jobs: JobProgress[] = [];
    for (const owner of owners) {
      jobs.push(await rotateKey(services, owner, { actor: { type: 'system', id: `host:${operator}` }, requestedBy: `host:${operator}` }));
    }
    if (!options.json) {
      for (const job of jobs) process.stdout.write(`${job.owner}: version ${job.toVersion} is primary; re-encrypting ${job.valuesTotal} values (rotation ${job.id})\n`);
    }
    if (options.wait) await runUntilDone(services, new Set(jobs.map((job) => job.id)), options.json === true);
    if (options.json) process.stdout.write(`${JSON.stringify({ rotations: options.wait ? await finalStates(services, jobs) : jobs })}\n`);
    return 0;
  });
}

async function runUntilDone(services: Services, ids: Set<string>, quiet: boolean): Promise<void> {
  const worker = new ReencryptionWorker(services, { holder: `cli:${process.pid}`, onError: (error) => process.stderr.write(`confide: ${String(error)}\n`) });
  for (;;) {
    await worker.runOnce();
    const left = (await runningJobs(services.db)).filter((job) => ids.has(job.id));
    if (!quiet) drawProgress(left.map(progressOf));
    if (left.length === 0) break;
    await sleep(POLL_MS);
  }
}

async function finalStates(services: Services, jobs: JobProgress[]): Promise<JobProgress[]> {
  const rows = await services.db.selectFrom('key_rotations').selectAll().where('id', 'in', jobs.map((job) => job.id)).execute();
  return rows.map(progressOf);
}

/** `[#######-------------]  35.0%  3500/10000  owner` */
export function progressBar(job: JobProgress, width = 30): string {
  const filled = Math.round((job.percent / 100) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${job.percent.toFixed(1).padStart(5)}%  ${job.valuesDone}/${job.valuesTotal}  ${job.owner}`;
}

function drawProgress(jobs: JobProgress[]): void {
  if (!process.stdout.isTTY) return;
  for (const job of jobs) process.stdout.write(`\r${progressBar(job)}`);
  process.stdout.write(jobs.length === 0 ? '\rre-encryption done; old key versions destroyed\n' : '');
}

/** The whole crypto inventory: the key hierarchy, TLS, and every owner's data keys with their values and what is due. */
async function cryptoInventory(services: Services): Promise<CryptoInventory> {
  const [hierarchy, keys] = await Promise.all([keyHierarchyInventory(services), allKeys(services)]);
  const { dataCipher, keyRotation } = services.config;
  return {
    ...hierarchy,
    tls: tlsInventory(services.config, services.clock.now()),
    dataKeys: { primaryCipher: dataCipher, primaryAlgorithm: algorithmForConfig(dataCipher).name, maxAgeDays: keyRotation.maxAgeDays },
    ...keys,
  };
}

/**
 * The crypto inventory (docs/keys.md, "Inventory"): master key, blind-index and signing keys, tenant
 * key store, TLS profile and certificate, every owner's key versions with the values each protects
 * and what is due, and the running re-encryption jobs (a progress bar each on a terminal). `--json`
 * prints the same as one object.
 */
export async function keysStatusCommand(options: { json?: boolean }): Promise<number> {
  return withServices(async (services) => {
    const inventory = await cryptoInventory(services);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(inventory)}\n`);
      return 0;
    }
    for (const line of inventoryText(inventory)) process.stdout.write(`${line}\n`);
    process.stdout.write(inventory.running.length === 0 ? 'no re-encryption running\n' : 're-encryption running:\n');
    for (const job of inventory.running) process.stdout.write(process.stdout.isTTY ? `${progressBar(job)}\n` : `${job.owner} ${job.valuesDone}/${job.valuesTotal} ${job.percent}%\n`);
    return 0;
  });
}
