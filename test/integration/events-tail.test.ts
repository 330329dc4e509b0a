import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildTenant } from '../harness/builders.js';
import { newId } from '../../src/lib/ids.js';
import { DIALECTS } from '../harness/dialects.js';
import { runCli, spawnCli } from '../harness/run-cli.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';


describe.each(DIALECTS)('confide events tail on %s', (dialect) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('prints the latest security events of every tenant, oldest first, decrypted: one JSON object per line, or one line each', async () => {
    t = await createTestApp(dialect);
    const first = await buildTenant(t);
    const second = await buildTenant(t);
    expect((await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: second.email, password: 'not-the-password-at-all' }, remoteAddress: '192.0.2.44' })).statusCode).toBe(401);
    await t.app.services.securityEvents.flush();

    const json = runCli(['events', 'tail', '--json', '--limit', '50'], t.env);
    expect(json.stderr).toBe('');
    expect(json.status).toBe(0);
    const events = json.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(events.map((event) => event.type)).toContain('tenant.created');
    expect(new Set(events.filter((e) => e.type === 'tenant.created').map((e) => e.tenantId))).toEqual(new Set([first.tenantId, second.tenantId]));
    const ids = events.map((event) => event.id as string);
    expect([...ids].sort()).toEqual(ids); // oldest first
    const failure = events.at(-1);
    expect(failure).toMatchObject({ type: 'signin.password', outcome: 'failure', ip: '192.0.2.44', tenantId: second.tenantId, actor: { type: 'member', id: second.userId } });

    const limited = runCli(['events', 'tail', '--json', '--limit', '1'], t.env);
    expect(limited.stdout.trim().split('\n').map((line) => JSON.parse(line).id)).toEqual([failure.id]);

    const text = runCli(['events', 'tail', '--limit', '1'], t.env);
    expect(text.status).toBe(0);
    expect(text.stdout.trim()).toBe([failure.at, 'signin.password', 'failure', `member:${second.userId}`, second.tenantId, '192.0.2.44'].join('  '));

    expect(runCli(['events', 'tail', '--limit', 'lots'], t.env)).toMatchObject({ status: 1, stderr: 'confide: --limit must be a whole number between 1 and 10000\n' });
    expect(runCli(['events', 'tail', '--help'], t.env).stdout).toContain('--follow');
  });

  it('--follow prints events stored after it started, until SIGINT', async () => {
    t = await createTestApp(dialect);
    const tenant = await buildTenant(t);
    await t.app.services.securityEvents.flush();
    const child = spawnCli(['events', 'tail', '--follow', '--json', '--limit', '1'], t.env);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const lines = () => stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { type: string; ip: string });
      await vi.waitFor(() => expect(lines()).toHaveLength(1), { timeout: 30_000, interval: 100 });
      expect((await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: tenant.email, password: 'still-not-the-password' }, remoteAddress: '192.0.2.45' })).statusCode).toBe(401);
      await t.app.services.securityEvents.flush();
      await vi.waitFor(() => expect(lines().map((event) => event.ip)).toContain('192.0.2.45'), { timeout: 15_000, interval: 100 });
      expect(lines().at(-1)).toMatchObject({ type: 'signin.password', ip: '192.0.2.45' });
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(stderr).toBe('');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('--follow prints an event committed late, with a smaller id than one already printed, exactly once', async () => {
    t = await createTestApp(dialect);
    const tenant = await buildTenant(t);
    await t.app.services.securityEvents.flush();
    const child = spawnCli(['events', 'tail', '--follow', '--json', '--limit', '1'], t.env);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const lines = () => stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { id: string; type: string; ip: string });
      await vi.waitFor(() => expect(lines()).toHaveLength(1), { timeout: 30_000, interval: 100 });
      // An id minted now whose row commits only after a newer event has been stored and printed.
      const lateId = newId();
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect((await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: tenant.email, password: 'still-not-the-password' }, remoteAddress: '192.0.2.46' })).statusCode).toBe(401);
      await t.app.services.securityEvents.flush();
      await vi.waitFor(() => expect(lines().map((event) => event.ip)).toContain('192.0.2.46'), { timeout: 15_000, interval: 100 });
      expect(lines().at(-1)!.id > lateId).toBe(true);
      await t.app.services.db
        .insertInto('security_events')
        .values({ id: lateId, tenant_id: tenant.tenantId, at: t.clock.now().toISOString(), type: 'apiKey.created', outcome: 'success', user_id: null, ip_enc: null, details_enc: null, actor_type: 'system', actor_id: 'late', source_index: null })
        .execute();
      await vi.waitFor(() => expect(lines().map((event) => event.id)).toContain(lateId), { timeout: 15_000, interval: 100 });
      await new Promise((resolve) => setTimeout(resolve, 2_500)); // two more polls: nothing is printed twice
      const ids = lines().map((event) => event.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.at(-1)).toBe(lateId);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
