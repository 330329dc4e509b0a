import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';
import { buildStaff, type TestStaff } from '../harness/staff.js';
import { insertGrantFixture } from '../harness/grant-fixture.js';
import { alertsOpenedSince, freshWindow } from '../harness/monitoring.js';

const RECORDS = 250;

/**
 * `staff-bulk-reading` counts the records staff read, not their requests: real staff requests on
 * the admin listener under a grant, then the app's own monitor (threshold 200 records an hour).
 */
describe.each(DIALECTS)('staff-bulk-reading counts records on %s', (dialect) => {
  let t: TestApp;
  let tenant: TestTenant;
  let ids: string[];

  beforeAll(async () => {
    t = await createTestApp(dialect);
    tenant = await buildTenant(t);
    ids = [];
    for (let i = 0; i < RECORDS; i += 1) ids.push((await buildRecord(t, tenant)).id);
  }, 120_000);
  afterAll(async () => t?.close());

  const base = () => `/admin/v1/tenants/${tenant.tenantId}/collections`;

  /** A fresh staff member with a read grant on the tenant for two hours, in a window no earlier test counts in. */
  async function grantedStaff(): Promise<{ staff: TestStaff; since: Date }> {
    const since = freshWindow(t);
    const staff = await buildStaff(t);
    await insertGrantFixture(t, { tenantId: tenant.tenantId, staffId: staff.id, scope: 'read', minutes: 120 });
    return { staff, since };
  }

  async function list(staff: TestStaff, limit: number, cursor?: string): Promise<{ ids: string[]; nextCursor: string | null }> {
    const query = cursor ? `limit=${limit}&cursor=${encodeURIComponent(cursor)}` : `limit=${limit}`;
    const response = await t.admin({ method: 'GET', url: `${base()}/patients/records?${query}`, token: staff.token });
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<{ items: Array<{ id: string }>; nextCursor: string | null }>();
    return { ids: body.items.map((item) => item.id), nextCursor: body.nextCursor };
  }

  async function read(staff: TestStaff, id: string): Promise<void> {
    const response = await t.admin({ method: 'GET', url: `${base()}/patients/records/${id}`, token: staff.token });
    expect(response.statusCode, response.body).toBe(200);
  }

  /** Runs the monitor now and returns the staff-bulk-reading alerts opened since `since`. */
  async function bulkAlerts(since: Date) {
    await t.app.services.securityEvents.flush();
    await t.app.monitor.runOnce(t.clock.now());
    return (await alertsOpenedSince(t, since)).filter((alert) => alert.rule === 'staff-bulk-reading');
  }

  it('fires for 250 records listed in two requests', async () => {
    const { staff, since } = await grantedStaff();
    const first = await list(staff, 125);
    const second = await list(staff, 125, first.nextCursor!);
    expect(new Set([...first.ids, ...second.ids]).size).toBe(RECORDS);
    const alerts = await bulkAlerts(since);
    expect(alerts.map((alert) => alert.subject)).toEqual([`staff:${staff.id}`]);
    expect(alerts[0]!.details).toMatchObject({ count: RECORDS, threshold: 200 });
  });

  it('does not fire for 150 single reads over the hour, and fires once list pages take the sum to 200', async () => {
    const { staff, since } = await grantedStaff();
    for (let i = 0; i < 150; i += 1) {
      await read(staff, ids[i]!);
      t.clock.advance(20); // 150 reads spread over 50 minutes
    }
    expect(await bulkAlerts(since)).toEqual([]);
    const page = await list(staff, 50);
    expect(page.ids).toHaveLength(50);
    expect((await bulkAlerts(since)).map((alert) => [alert.subject, alert.details?.count])).toEqual([[`staff:${staff.id}`, 200]]);
  });

  it('does not fire for normal work: metadata, a page of 40 and 60 reads in an hour', async () => {
    const { staff, since } = await grantedStaff();
    for (let i = 0; i < 20; i += 1) {
      const metadata = await t.admin({ method: 'GET', url: base(), token: staff.token });
      expect(metadata.statusCode, metadata.body).toBe(200);
    }
    expect((await list(staff, 40)).ids).toHaveLength(40);
    for (let i = 0; i < 60; i += 1) {
      await read(staff, ids[i]!);
      t.clock.advance(30);
    }
    expect(await bulkAlerts(since)).toEqual([]);
  });
});
