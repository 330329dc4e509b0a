import type { KeyVersion } from '../keys/key-ring.js';

const DAY_MS = 86_400_000;

/** A key version with the values it still protects (the inventory's view of it). */
export interface VersionValues extends KeyVersion {
  /** Values sealed under this version, all algorithms together (0 once destroyed). */
  values: number;
  /** The same per algorithm as the envelope names it (`A256GCM`, `C20P1305`): more than one after a CONFIDE_DATA_CIPHER switch. */
  valuesByAlgorithm: Record<string, number>;
}

export interface DuePolicy {
  now: Date;
  /** CONFIDE_KEY_MAX_AGE_DAYS; null: never due by age. */
  maxAgeDays: number | null;
  /** The envelope name of CONFIDE_DATA_CIPHER's algorithm (`A256GCM`). */
  primaryAlgorithm: string;
  /** A re-encryption of this owner is under way: what it is moving is not due. */
  rotating: boolean;
}

export interface KeyDue {
  /** Whole days since the active version began to seal (sealingSince); null when the owner has no active version. */
  ageDays: number | null;
  due: boolean;
  /** Why, in words (empty when not due). */
  dueReasons: string[];
}

/**
 * Since when a version seals new values: its activation, or its creation for a version active since
 * it was made (a first version, or one activated before activations were recorded). A version made
 * ahead as `next` does not age before it is used.
 */
export function sealingSince(version: Pick<KeyVersion, 'createdAt' | 'activatedAt'>): string {
  return version.activatedAt ?? version.createdAt;
}

/** Whole days between `since` and `now` (what the inventory shows and the key-max-age rule compares). */
export function ageInDays(since: string, now: Date): number {
  return Math.floor((now.getTime() - Date.parse(since)) / DAY_MS);
}

/** Older than the maximum age, in whole days as the inventory shows the age: at `maxAgeDays` days it is not yet; one day later it is. */
export function olderThan(since: string, maxAgeDays: number | null, now: Date): boolean {
  return maxAgeDays !== null && ageInDays(since, now) > maxAgeDays;
}

/**
 * Whether an owner's key wants a rotation, and why: its active version is older than the maximum
 * age; a retired version still protects values with no re-encryption moving them (a job that was
 * superseded or failed, a restored database); or values are sealed with an algorithm other than the
 * primary one (CONFIDE_DATA_CIPHER changed since: only a rotation re-seals them). The values, not
 * the version's recorded `algorithm`, decide the last: a version made ahead (`next`) records the
 * cipher that was primary when it was made, yet seals with the primary one once active.
 */
export function keyDue(versions: readonly VersionValues[], policy: DuePolicy): KeyDue {
  const active = versions.find((version) => version.state === 'active');
  const reasons: string[] = [];
  if (active && olderThan(sealingSince(active), policy.maxAgeDays, policy.now)) {
    reasons.push(`the active version ${active.version} is ${ageInDays(sealingSince(active), policy.now)} days old, more than the maximum of ${policy.maxAgeDays} days (CONFIDE_KEY_MAX_AGE_DAYS)`);
  }
  if (!policy.rotating) {
    for (const version of versions) {
      if (version.state === 'retired' && version.values > 0) {
        reasons.push(`the retired version ${version.version} still protects ${version.values} value${version.values === 1 ? '' : 's'} and no re-encryption is running`);
      }
    }
  }
  if (!policy.rotating) {
    const other = new Map<string, number>();
    for (const version of versions) {
      for (const [algorithm, n] of Object.entries(version.valuesByAlgorithm)) if (algorithm !== policy.primaryAlgorithm) other.set(algorithm, (other.get(algorithm) ?? 0) + n);
    }
    for (const [algorithm, n] of other) {
      reasons.push(`${n} value${n === 1 ? ' is' : 's are'} sealed with ${algorithm}, not the primary cipher ${policy.primaryAlgorithm} (CONFIDE_DATA_CIPHER), and no re-encryption is running`);
    }
  }
  return { ageDays: active ? ageInDays(sealingSince(active), policy.now) : null, due: reasons.length > 0, dueReasons: reasons };
}
