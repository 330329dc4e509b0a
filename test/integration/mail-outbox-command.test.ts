import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { runCli } from '../harness/run-cli.js';
import { bodyOf } from '../harness/smtp-sink.js';
import { buildTenant, strongPassword } from '../harness/builders.js';
import { newId } from '../../src/lib/ids.js';

interface Printed {
  messages: Array<{ id: string; eml: string; from: string; to: string; subject: string; date: string; text: string; links: string[] }>;
  problems: Array<{ file: string; problem: string }>;
}

const outboxFiles = (t: TestApp) => readdirSync(join(t.dataDir, 'outbox')).filter((name) => name.endsWith('.eml.enc')).sort();
const deploymentIdOf = (t: TestApp) => (JSON.parse(readFileSync(join(t.dataDir, 'deployment.json'), 'utf8')) as { deploymentId: string }).deploymentId;

/**
 * `confide mail outbox` for a newcomer (issue 7, items 2 and 4): each message decoded, so a token
 * can be copied as it is; a damaged file, or one from another deployment, named on its own line
 * without hiding the others. Always the real command, against the data directory of a real app.
 */
describe.each(DIALECTS)('confide mail outbox on %s', (dialect) => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function app(): Promise<TestApp> {
    const t = await createTestApp(dialect, { env: { CONFIDE_MAIL_FROM: 'Confide <confide@example.test>' } });
    cleanup.push(() => t.close());
    return t;
  }

  /** Invites a fresh address; returns it, and the invitation token as an independent decoder reads it from the mail. */
  async function invite(t: TestApp, owner: Awaited<ReturnType<typeof buildTenant>>) {
    const email = `outbox-${newId()}@example.test`;
    expect((await t.request({ method: 'POST', url: '/v1/invitations', token: owner.token, payload: { email, role: 'admin' } })).statusCode).toBe(201);
    const [mail] = await t.mailTo(email);
    const token = /#token=(cfi_[A-Za-z0-9_-]{43})/.exec(bodyOf(mail!))?.[1];
    expect(token).toBeDefined();
    return { email, token: token! };
  }

  it('prints each message decoded (from, to, date, subject, text) with the token exactly as sent, and the same fields in --json', async () => {
    const t = await app();
    const owner = await buildTenant(t, { organization: 'Outbox Readers Ltd' });
    const { email, token } = await invite(t, owner);
    const link = `${t.app.config.publicUrl}/accept-invitation#token=${token}`;
    // The raw file is quoted-printable: the link and its token are not there as they are.
    const raw = (await t.mailTo(email))[0]!.raw;
    expect(raw).toContain('=3D');

    const plain = runCli(['mail', 'outbox'], t.env);
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stderr).toBe('');
    expect(plain.stdout).toContain(`To:      ${email}\n`);
    expect(plain.stdout).toContain('From:    Confide <confide@example.test>\n');
    expect(plain.stdout).toContain('Subject: Confide: you are invited to join Outbox Readers Ltd\n');
    expect(plain.stdout).toMatch(/^Date: {4}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/m);
    expect(plain.stdout).toContain(`\nAccept the invitation: ${link}\n`);
    expect(plain.stdout).toContain(`  {"token": "${token}", "password": "<password>"}\n`);
    expect(plain.stdout).toMatch(/^===== message 2 of 2 /m); // the owner's verification mail, then the invitation
    expect(plain.stdout).not.toMatch(/=3D|=\n|Content-Transfer-Encoding/);

    const json = runCli(['mail', 'outbox', '--json'], t.env);
    expect(json.status, json.stderr).toBe(0);
    const printed = JSON.parse(json.stdout) as Printed;
    expect(printed.problems).toEqual([]);
    const invitation = printed.messages.find((m) => m.to === email);
    expect(invitation).toMatchObject({
      from: 'Confide <confide@example.test>',
      subject: 'Confide: you are invited to join Outbox Readers Ltd',
      links: [link, `${t.app.config.publicUrl}/v1/invitations/accept`],
    });
    expect(invitation!.eml).toContain(`To: ${email}`); // the raw message stays, as the API contract fixes
    expect(invitation!.text).toContain(`Accept the invitation: ${link}\n`);
    expect(Math.abs(new Date(invitation!.date).getTime() - Date.now())).toBeLessThan(10 * 60_000);
    expect(printed.messages.map((m) => m.id)).toEqual(outboxFiles(t).map((name) => name.replace('.eml.enc', '')));

    // The copied token does what the mail says.
    const accepted = await t.request({ method: 'POST', url: '/v1/invitations/accept', payload: { token: invitation!.links[0]!.split('#token=')[1], password: strongPassword() } });
    expect(accepted.statusCode, accepted.body).toBe(201);
  });

  it('names each damaged file on stderr, one line each, still prints the others, and exits 1', async () => {
    const t = await app();
    const owner = await buildTenant(t);
    await invite(t, owner);
    const dir = join(t.dataDir, 'outbox');
    const [verification, invitation] = outboxFiles(t);
    // One file with a flipped byte in its sealed message, one that is no outbox file at all.
    const damaged = join(dir, invitation!);
    const lines = readFileSync(damaged, 'utf8').trimEnd().split('\n');
    const sealed = lines[lines.length - 1]!;
    const flipAt = sealed.length - 10;
    lines[lines.length - 1] = sealed.slice(0, flipAt) + (sealed[flipAt] === 'A' ? 'B' : 'A') + sealed.slice(flipAt + 1);
    writeFileSync(damaged, `${lines.join('\n')}\n`);
    const garbage = join(dir, `${newId()}.eml.enc`);
    writeFileSync(garbage, 'hello\n', { mode: 0o600 });

    const plain = runCli(['mail', 'outbox'], t.env);
    expect(plain.status).toBe(1);
    expect(plain.stdout).toContain(`To:      ${owner.email}\n`);
    expect(plain.stdout).toMatch(/^===== message 1 of 1 /m);
    expect(plain.stderr.trimEnd().split('\n').sort()).toEqual(
      [
        `confide: outbox file ${damaged}: damaged: it names this deployment but cannot be decrypted`,
        `confide: outbox file ${garbage}: not a Confide outbox file`,
      ].sort(),
    );

    const json = runCli(['mail', 'outbox', '--json'], t.env);
    expect(json.status).toBe(1);
    const printed = JSON.parse(json.stdout) as Printed;
    expect(printed.messages.map((m) => `${m.id}.eml.enc`)).toEqual([verification]);
    expect(printed.problems.map((p) => p.file).sort()).toEqual([damaged, garbage].sort());
  });

  it('names a file copied from another deployment as such, reads the old format, and prints the rest', async () => {
    const ours = await app();
    const theirs = await app();
    const ourOwner = await buildTenant(ours);
    const theirOwner = await buildTenant(theirs);
    const [theirFile] = outboxFiles(theirs);
    const copied = join(ours.dataDir, 'outbox', theirFile!);
    copyFileSync(join(theirs.dataDir, 'outbox', theirFile!), copied);
    // A message in the first outbox format (no deployment in its header), sealed with our key.
    const { services } = ours.app;
    const legacyId = newId();
    const legacyEml = 'From: confide@example.test\nTo: legacy@example.test\nSubject: Old format\nContent-Type: text/plain; charset=utf-8\n\nStill readable.\n';
    const legacySealed = services.keyRing.systemCipher().encrypt(legacyEml, { table: 'outbox', rowId: legacyId, field: 'eml' });
    writeFileSync(join(ours.dataDir, 'outbox', `${legacyId}.eml.enc`), `confide-outbox-v1\n${legacyId}\n${legacySealed}\n`, { mode: 0o600 });

    const result = runCli(['mail', 'outbox', '--json'], ours.env);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      `confide: outbox file ${copied}: written by another deployment (${deploymentIdOf(theirs)}), not by this one (${deploymentIdOf(ours)}); its keys are elsewhere\n`,
    );
    const printed = JSON.parse(result.stdout) as Printed;
    expect(printed.messages.map((m) => m.to).sort()).toEqual([ourOwner.email, 'legacy@example.test'].sort());
    expect(printed.messages.find((m) => m.to === 'legacy@example.test')).toMatchObject({ subject: 'Old format', text: 'Still readable.\n', links: [] });
    expect(result.stdout).not.toContain(theirOwner.email);
  });
});
