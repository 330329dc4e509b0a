import { Type } from 'typebox';
import { ProofSchema } from '../identity/mfa/proof-schema.js';
import type { Router } from '../http/route-types.js';
import { errorResponses } from '../http/error-schema.js';
import { callerOf, requireAuthentication, type Authenticator } from '../http/authenticate.js';
import { optionalBody } from '../http/validators.js';
import type { TenantKeys } from './tenant-keys.js';
import type { JobProgress } from './rotation-jobs.js';
import type { VersionValues } from './key-due.js';

const Timestamp = Type.String({ format: 'date-time' });
const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

const Rotation = Type.Object({
  id: Type.String(),
  toVersion: Type.Integer({ description: 'the key version every value is re-encrypted to' }),
  state: Type.Union([Type.Literal('running'), Type.Literal('complete'), Type.Literal('failed'), Type.Literal('superseded')], {
    description: '`complete`: every value is under the new version and the old ones are destroyed; `superseded`: a newer rotation took over before this one finished (it is never the newest); `failed` is not used: a job that meets a problem retries, the old version kept',
  }),
  done: Type.Integer({ description: 'values the re-encryption has passed (values written meanwhile can take it past total)' }),
  total: Type.Integer({ description: 'the values under the tenant’s key when the rotation started' }),
  percent: Type.Number({ minimum: 0, maximum: 100 }),
  startedAt: Timestamp,
  finishedAt: Type.Optional(Timestamp),
});

const Version = Type.Object({
  version: Type.Integer(),
  state: Type.Union([Type.Literal('next'), Type.Literal('active'), Type.Literal('retired'), Type.Literal('destroyed')], {
    description: 'next: made ahead of the next rotation (opens, seals nothing yet); active: seals new values; retired: still opens older ones; destroyed: erased',
  }),
  algorithm: Type.String(),
  createdAt: Timestamp,
  activatedAt: Type.Union([Timestamp, Type.Null()], { description: 'when the version began to seal; null for a next version (and for versions active before this was recorded: see createdAt)' }),
  retiredAt: NullableTimestamp,
  destroyedAt: Type.Optional(Timestamp),
  values: Type.Integer({ minimum: 0, description: 'the tenant’s values this version still protects, counted from the stored envelopes (0 once destroyed)' }),
  valuesByAlgorithm: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: 'the same per algorithm as envelopes name it, e.g. {"A256GCM": 10, "C20P1305": 5} after a CONFIDE_DATA_CIPHER switch' }),
});

const KeyStatus = Type.Object({
  keys: Type.Array(Version, { description: 'every version of the tenant’s data key, oldest first' }),
  ageDays: Type.Union([Type.Integer(), Type.Null()], { description: 'whole days since the active version began to seal' }),
  due: Type.Boolean({ description: 'a rotation is due: see dueReasons' }),
  dueReasons: Type.Array(Type.String(), { description: 'why, in words: older than CONFIDE_KEY_MAX_AGE_DAYS, a retired version still protects values with no re-encryption running, or values are sealed with a cipher other than the primary one (CONFIDE_DATA_CIPHER)' }),
  rotation: Type.Union([Rotation, Type.Null()], { description: 'the newest rotation, running or finished; null if the key was never rotated' }),
});

const presentRotation = (job: JobProgress) => ({
  id: job.id,
  toVersion: job.toVersion,
  state: job.state === 'done' ? ('complete' as const) : job.state,
  done: job.valuesDone,
  total: job.valuesTotal,
  percent: job.percent,
  startedAt: job.startedAt,
  ...(job.finishedAt ? { finishedAt: job.finishedAt } : {}),
});

// Field by field: the master key's fingerprint (masterKeyId) is the operator's, not the tenant's.
const presentVersion = (v: VersionValues) => ({
  version: v.version,
  state: v.state,
  algorithm: v.algorithm,
  createdAt: v.createdAt,
  activatedAt: v.activatedAt,
  retiredAt: v.retiredAt,
  ...(v.destroyedAt ? { destroyedAt: v.destroyedAt } : {}),
  values: v.values,
  valuesByAlgorithm: v.valuesByAlgorithm,
});

/** The tenant's data key: its versions and rotation progress; owners rotate it. */
export function tenantKeyRoutes(app: Router, keys: TenantKeys, authenticate: Authenticator): void {
  const common = { tags: ['tenant'], security: [{ bearer: [] }] };

  app.get(
    '/v1/tenant/keys',
    {
      onRequest: requireAuthentication(authenticate, 'keys.read'),
      schema: { ...common, summary: 'The tenant’s data key: its versions with the values each still protects, whether a rotation is due and why, and the progress of its latest rotation', response: { 200: KeyStatus, ...errorResponses(401, 403) } },
    },
    async (request) => {
      const status = await keys.status(callerOf(request));
      return {
        keys: status.versions.map(presentVersion),
        ageDays: status.ageDays,
        due: status.due,
        dueReasons: status.dueReasons,
        rotation: status.rotation ? presentRotation(status.rotation) : null,
      };
    },
  );

  app.post(
    '/v1/tenant/keys/rotate',
    {
      onRequest: requireAuthentication(authenticate, 'keys.rotate'),
      schema: {
        ...common,
        summary:
          'Rotate the tenant’s data key (owner; `{"password"}` or `{"code"}` re-authentication, or none within 5 minutes of one): new values are sealed with the new version at once, older ones are re-encrypted in the background, then the old version is destroyed',
        body: optionalBody(ProofSchema),
        response: { 202: Type.Object({ rotation: Rotation }), ...errorResponses(401, 403) },
      },
    },
    async (request, reply) => {
      const job = await keys.rotate(callerOf(request), request.body ?? {});
      return reply.code(202).send({ rotation: presentRotation(job) });
    },
  );
}
