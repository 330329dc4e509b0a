import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { runCli } from '../harness/run-cli.js';
import { buildRecord, buildTenant } from '../harness/builders.js';
import { expectAllUnder } from '../harness/key-fixture.js';

/** `confide keys rotate` and `confide keys status`, as an operator runs them beside a running deployment. */
describe.each(DIALECTS)('confide keys rotate|status (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(() => t.close());

  it('rotates a tenant’s key from the host, re-encrypts with --wait, and the running node learns of the new version', { timeout: 120_000 }, async () => {
    const owner = await buildTenant(t);
    const record = await buildRecord(t, owner, 'patients', { name: 'kept' });

    const refused = runCli(['keys', 'rotate'], t.env);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe('confide: name exactly one of --tenant ID, --all-tenants, --system\n');

    const rotated = runCli(['keys', 'rotate', '--tenant', owner.tenantId, '--wait', '--json'], t.env);
    expect(rotated.status, rotated.stderr).toBe(0);
    const [rotation] = (JSON.parse(rotated.stdout) as { rotations: Array<{ owner: string; toVersion: number; state: string; valuesDone: number; valuesTotal: number }> }).rotations;
    expect(rotation).toMatchObject({ owner: owner.tenantId, toVersion: 2, state: 'done' });
    expect(rotation!.valuesDone).toBe(rotation!.valuesTotal);

    // This process's worker has not polled (tests drive it by hand) and version 1 is destroyed. Made
    // ahead of the rotation, version 2 is already in its cache, so the record the CLI re-sealed reads;
    // and since its last poll is older than KEYS_MAX_STALE_MS, the request polls first, so the access
    // log entry it writes is sealed with version 2, not with the destroyed version 1 (expectAllUnder).
    // Without that catch-up the entry would be sealed under a key no node can open any more.
    const read = await t.request({ method: 'GET', url: `/v1/collections/patients/records/${record.id}`, token: owner.token });
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json().data).toEqual({ name: 'kept' });
    // Its poll sees the rotation: it drops its cached keys (version 1 among them) and seals with version 2.
    await t.app.keyRotation.runOnce();
    await buildRecord(t, owner, 'patients', { name: 'after the poll' });
    await expectAllUnder(t.app.services.db, t.app.services.keyRing, owner.tenantId, 2);

    const status = runCli(['keys', 'status', '--json'], t.env);
    expect(status.status, status.stderr).toBe(0);
    const owners = (JSON.parse(status.stdout) as { owners: Array<{ owner: string; versions: Array<{ state: string }> }> }).owners;
    expect(owners[0]!.owner).toBe('system');
    expect(owners.find((o) => o.owner === owner.tenantId)!.versions.map((v) => v.state)).toEqual(['destroyed', 'active', 'next']);

    // Without --wait the job is left to the server; status shows it running.
    const system = runCli(['keys', 'rotate', '--system'], t.env);
    expect(system.status, system.stderr).toBe(0);
    expect(system.stdout).toMatch(/^system: version 2 is primary; re-encrypting \d+ values \(rotation [\w-]+\)$/m);
    const human = runCli(['keys', 'status'], t.env);
    expect(human.stdout).toMatch(/^re-encryption running:\nsystem 0\/\d+ 0%$/m);

    await t.app.services.securityEvents.flush();
    const events = await t.app.services.db.selectFrom('security_events').select(['type', 'actor_type', 'actor_id']).where('type', '=', 'keys.rotated').execute();
    expect(events).toHaveLength(2);
    for (const event of events) expect(event).toMatchObject({ actor_type: 'system', actor_id: expect.stringMatching(/^host:/) });
  });
});
