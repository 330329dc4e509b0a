import { VARIABLES, type Variable } from './variables.js';

/**
 * Every variable loadConfig reads (the table in variables.ts), its default and a one-line
 * meaning: what `confide serve --help` prints. docs/configuration.md has the full text; a test
 * keeps the two naming the same variables with the same defaults.
 */
export interface DocumentedVariable {
  name: string;
  /** As loadConfig applies it; '' when there is none (the variable is optional). */
  default: string;
  meaning: string;
}

export const DOCUMENTED_VARIABLES: readonly DocumentedVariable[] = Object.values(VARIABLES).map((variable: Variable) => ({
  name: variable.name,
  default: variable.shownDefault ?? variable.default ?? '',
  meaning: variable.meaning,
}));

/** The list as `confide serve --help` shows it: name, default, meaning, in aligned columns. */
export function describeVariables(variables: readonly DocumentedVariable[] = DOCUMENTED_VARIABLES): string {
  const nameWidth = Math.max(...variables.map((variable) => variable.name.length));
  return variables
    .map((variable) => {
      const fallback = variable.default === '' ? '' : ` (default: ${variable.default})`;
      return `  ${variable.name.padEnd(nameWidth)}  ${variable.meaning}${fallback}`;
    })
    .join('\n');
}
