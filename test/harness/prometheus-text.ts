/**
 * A strict reader of the Prometheus text exposition format 0.0.4 (prom-client has no parser):
 * every line is a `# HELP`, a `# TYPE` or a sample, names and label names are valid, label values
 * are properly quoted and escaped, values are floats (or NaN, +Inf, -Inf), each family is typed
 * once and before its samples, and every sample belongs to a typed family. Anything else throws,
 * naming the line.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
  /** The value of the one sample with this name and exactly these labels, or undefined. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const FLOAT = '(?:[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?|NaN|[+-]Inf)';
const HELP = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL}=${LABEL_VALUE})(?:,${LABEL}=${LABEL_VALUE})*,?)?\\})? (${FLOAT})(?: (-?\\d+))?$`);
const ONE_LABEL = new RegExp(`(${LABEL})=(${LABEL_VALUE})`, 'g');
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };

function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const [family, type] of types) {
    if ((SUFFIXES[type] ?? []).some((suffix) => suffix !== '' && name === family + suffix)) return family;
  }
  return undefined;
}

function unescape(quoted: string): string {
  return quoted.slice(1, -1).replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(raw: string): number {
  if (raw === 'NaN') return Number.NaN;
  if (raw === '+Inf') return Number.POSITIVE_INFINITY;
  if (raw === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(raw);
}

export function parsePrometheusText(text: string): Exposition {
  if (text !== '' && !text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const types = new Map<string, string>();
  const helped = new Set<string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((line, index) => {
    const where = `line ${index + 1}: ${JSON.stringify(line)}`;
    if (line === '') return;
    const help = HELP.exec(line);
    if (help) {
      if (helped.has(help[1]!)) throw new Error(`second HELP for ${help[1]} (${where})`);
      helped.add(help[1]!);
      return;
    }
    const type = TYPE.exec(line);
    if (type) {
      if (types.has(type[1]!)) throw new Error(`second TYPE for ${type[1]} (${where})`);
      if (samples.some((sample) => familyOf(sample.name, new Map([[type[1]!, type[2]!]])))) throw new Error(`TYPE after samples (${where})`);
      types.set(type[1]!, type[2]!);
      return;
    }
    if (line.startsWith('#')) throw new Error(`unknown comment (${where})`);
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`not a sample (${where})`);
    const [, name, labelText, rawValue] = sample;
    if (!familyOf(name!, types)) throw new Error(`sample of an untyped family (${where})`);
    const labels: Record<string, string> = {};
    for (const [, label, value] of (labelText ?? '').matchAll(ONE_LABEL)) {
      if (label! in labels) throw new Error(`label ${label} twice (${where})`);
      labels[label!] = unescape(value!);
    }
    const key = seriesKey(name!, labels);
    if (seen.has(key)) throw new Error(`the same series twice (${where})`);
    seen.add(key);
    samples.push({ name: name!, labels, value: parseValue(rawValue!) });
  });
  return {
    types,
    samples,
    value(name, labels = {}) {
      return samples.find((sample) => seriesKey(sample.name, sample.labels) === seriesKey(name, labels))?.value;
    },
  };
}

function seriesKey(name: string, labels: Record<string, string>): string {
  return `${name}${JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)))}`;
}
