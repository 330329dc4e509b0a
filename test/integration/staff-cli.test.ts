import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { runCli } from '../harness/run-cli.js';
import { enrolStaff, signInStaff } from '../harness/staff.js';

describe.each(DIALECTS)('confide staff add|list|disable (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(() => t.close());

  it('adds a staff member with a printed single-use enrolment token, lists them, and disabling ends their session at once', async () => {
    const added = runCli(['staff', 'add', '--email', 'Sam@Ops.Example', '--role', 'support', '--json'], t.env);
    expect(added.status, added.stderr).toBe(0);
    const sam = JSON.parse(added.stdout) as { id: string; email: string; role: string; enrolmentToken: string; expiresAt: string };
    expect(sam).toMatchObject({ email: 'sam@ops.example', role: 'support' });
    expect(sam.enrolmentToken).toMatch(/^cfe_[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(sam.expiresAt) - Date.now()).toBeGreaterThan(23.9 * 3600_000);

    const listedBefore = JSON.parse(runCli(['staff', 'list', '--json'], t.env).stdout) as { staff: Array<{ id: string; enrolledAt: string | null }> };
    expect(listedBefore.staff).toEqual([expect.objectContaining({ id: sam.id, email: 'sam@ops.example', role: 'support', enrolledAt: null, disabledAt: null })]);

    const enrolled = await enrolStaff(t, sam.enrolmentToken);
    const token = await signInStaff(t, { email: sam.email, ...enrolled });
    expect((await t.admin({ method: 'GET', url: '/admin/v1/me', token })).statusCode).toBe(200);
    const human = runCli(['staff', 'list'], t.env);
    expect(human.stdout).toMatch(new RegExp(`^${sam.id}\\s+support\\s+active\\s+sam@ops.example$`, 'm'));

    const disabled = runCli(['staff', 'disable', '--email', 'sam@ops.example'], t.env);
    expect(disabled.status, disabled.stderr).toBe(0);
    expect(disabled.stdout).toContain('disabled sam@ops.example');
    expect((await t.admin({ method: 'GET', url: '/admin/v1/me', token })).statusCode).toBe(401);
    const again = await t.admin({ method: 'POST', url: '/admin/v1/sessions', payload: { email: sam.email, password: enrolled.password } });
    expect(again.statusCode).toBe(401);

    // The host account that ran each command is named as who acted.
    await t.app.services.securityEvents.flush();
    const events = await t.app.services.db.selectFrom('security_events').select(['type', 'actor_type', 'actor_id']).where('type', 'in', ['staff.added', 'staff.disabled']).execute();
    expect(events.map((e) => e.type).sort()).toEqual(['staff.added', 'staff.disabled']);
    for (const event of events) expect(event).toMatchObject({ actor_type: 'system', actor_id: expect.stringMatching(/^host:./) });
  });

  it('refuses a duplicate address, an unknown role and an unknown staff member with one clear line and a non-zero exit', () => {
    expect(runCli(['staff', 'add', '--email', 'dup@ops.example', '--role', 'security-admin'], t.env).status).toBe(0);
    const cases: Array<[string[], RegExp]> = [
      [['staff', 'add', '--email', 'dup@ops.example', '--role', 'support'], /already exists/],
      [['staff', 'add', '--email', 'x@ops.example', '--role', 'root'], /role must be one of support, security-admin/],
      [['staff', 'disable', '--email', 'nobody@ops.example'], /No staff member has the address nobody@ops.example/],
      [['staff', 'add', '--role', 'support'], /required option '--email <address>'/],
    ];
    for (const [args, message] of cases) {
      const result = runCli(args, t.env);
      expect(result.status, args.join(' ')).not.toBe(0);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n').filter((line) => line.startsWith('confide:') || line.startsWith('error:'))).toHaveLength(1);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
