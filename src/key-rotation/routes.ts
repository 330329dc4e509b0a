import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { errorResponses } from '../http/error-schema.js';
import { callerOf, requireAuthentication, type Authenticator } from '../http/authenticate.js';
import { optionalBody } from '../http/validators.js';
import type { TenantKeys } from './tenant-keys.js';
import type { JobProgress } from './rotation-jobs.js';
import type { KeyVersion } from '../keys/key-ring.js';

const Timestamp = Type.String({ format: 'date-time' });
const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

const Rotation = Type.Object({
  id: Type.String(),
  toVersion: Type.Integer({ description: 'the key version every value is re-encrypted to' }),
  state: Type.Union([Type.Literal('running'), Type.Literal('done'), Type.Literal('superseded')], {
    description: '`superseded`: a newer rotation took over before this one finished',
  }),
  valuesDone: Type.Integer(),
  valuesTotal: Type.Integer({ description: 'the values under the tenant’s key when the rotation started' }),
  percent: Type.Number({ minimum: 0, maximum: 100 }),
  startedAt: Timestamp,
  finishedAt: NullableTimestamp,
});

const Version = Type.Object({
  version: Type.Integer(),
  state: Type.Union([Type.Literal('active'), Type.Literal('retired'), Type.Literal('destroyed')]),
  algorithm: Type.String(),
  createdAt: Timestamp,
  retiredAt: NullableTimestamp,
  destroyedAt: NullableTimestamp,
});

const KeyStatus = Type.Object({
  versions: Type.Array(Version),
  rotation: Type.Union([Rotation, Type.Null()], { description: 'the newest rotation, running or finished; null if the key was never rotated' }),
});

const presentRotation = (job: JobProgress) => ({
  id: job.id,
  toVersion: job.toVersion,
  state: job.state,
  valuesDone: job.valuesDone,
  valuesTotal: job.valuesTotal,
  percent: job.percent,
  startedAt: job.startedAt,
  finishedAt: job.finishedAt,
});

const presentVersion = (v: KeyVersion) => ({
  version: v.version,
  state: v.state,
  algorithm: v.algorithm,
  createdAt: v.createdAt,
  retiredAt: v.retiredAt,
  destroyedAt: v.destroyedAt,
});

/** The tenant's data key: its versions and rotation progress; owners rotate it. */
export function tenantKeyRoutes(app: Router, keys: TenantKeys, authenticate: Authenticator): void {
  const common = { tags: ['tenant'], security: [{ bearer: [] }] };

  app.get(
    '/v1/tenant/keys',
    {
      onRequest: requireAuthentication(authenticate, 'keys.read'),
      schema: { ...common, summary: 'The tenant’s data key versions and the progress of its latest rotation', response: { 200: KeyStatus, ...errorResponses(401, 403) } },
    },
    async (request) => {
      const status = await keys.status(callerOf(request));
      return { versions: status.versions.map(presentVersion), rotation: status.rotation ? presentRotation(status.rotation) : null };
    },
  );

  app.post(
    '/v1/tenant/keys/rotate',
    {
      onRequest: requireAuthentication(authenticate, 'keys.rotate'),
      schema: {
        ...common,
        summary: 'Rotate the tenant’s data key (owner, signed in or re-authenticated within 5 minutes): new values are sealed with the new version at once, older ones are re-encrypted in the background, then the old version is destroyed',
        body: optionalBody(Type.Object({}, { additionalProperties: false })),
        response: { 202: Type.Object({ rotation: Rotation }), ...errorResponses(401, 403) },
      },
    },
    async (request, reply) => {
      const job = await keys.rotate(callerOf(request));
      return reply.code(202).send({ rotation: presentRotation(job) });
    },
  );
}
