import { hostOperator } from './host-operator.js';
import { withServices } from './with-services.js';
import { openUseCases } from '../app/use-cases.js';
import type { StaffRole } from '../core/principal.js';
import { AppError } from '../lib/app-error.js';
import type { Staff } from '../staff/staff.js';

const operator = hostOperator;

/** Opens the deployment (never creating one), runs `work` with the staff use cases, closes it. */
async function withStaff<T>(work: (staff: Staff) => Promise<T>): Promise<T> {
  try {
    return await withServices((services) => work(openUseCases(services).staff));
  } catch (error) {
    // The use cases' errors are for people: say the message, not the code.
    if (error instanceof AppError) throw new Error(error.message);
    throw error;
  }
}

const print = (json: boolean | undefined, value: unknown, text: string) => process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);

export async function staffAddCommand(options: { email: string; role: string; json?: boolean }): Promise<number> {
  const added = await withStaff((staff) => staff.accounts.add({ email: options.email, role: options.role as StaffRole }, operator()));
  print(
    options.json,
    added,
    [
      `added ${added.role} ${added.email} (${added.id})`,
      `enrolment token (single use, valid until ${added.expiresAt}; send it to ${added.email} over a trusted channel):`,
      added.enrolmentToken,
      'they enrol on the admin listener: POST /admin/v1/enrolment {"token","password"}, then POST /admin/v1/enrolment/confirm {"token","code"}',
    ].join('\n'),
  );
  return 0;
}

export async function staffListCommand(options: { json?: boolean }): Promise<number> {
  const members = await withStaff((staff) => staff.accounts.list());
  const state = (m: { enrolledAt: string | null; disabledAt: string | null }) => (m.disabledAt ? 'disabled' : m.enrolledAt ? 'active' : 'enrolment pending');
  const lines = members.map((m) => `${m.id}  ${m.role.padEnd(14)}  ${state(m).padEnd(17)}  ${m.email}`);
  print(options.json, { staff: members }, members.length === 0 ? 'no staff members yet (confide staff add --email E --role support)' : lines.join('\n'));
  return 0;
}

export async function staffDisableCommand(options: { email: string; json?: boolean }): Promise<number> {
  const member = await withStaff((staff) => staff.accounts.disable(options.email, operator()));
  print(options.json, member, `disabled ${member.email}: sessions ended, grants revoked, pending requests denied`);
  return 0;
}
