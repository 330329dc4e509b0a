import { performance } from 'node:perf_hooks';
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { TestApp } from './test-app.js';

/** The `request.rateLimited` security events Confide logged (every recorded event is logged as it is recorded). */
export function rateLimitedEvents(t: TestApp): Array<{ ip: string; details: { listener: string; limit: string; count: number } }> {
  return t.logs
    .filter((line) => line.includes('request.rateLimited'))
    .map((line) => JSON.parse(line) as { securityEvent?: { type: string; ip: string; details: { listener: string; limit: string; count: number } } })
    .flatMap((entry) => (entry.securityEvent?.type === 'request.rateLimited' ? [entry.securityEvent] : []));
}

/** A 429 in the contract's shape, with `Retry-After` and the IETF draft's `RateLimit-*` headers for a limit of `max`. */
export function expectRateLimited(response: LightMyRequestResponse, max: number): void {
  expect(response.statusCode, response.body).toBe(429);
  expect(response.json().error.code).toBe('RATE_LIMITED');
  const retryAfter = Number(response.headers['retry-after']);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(response.headers['ratelimit-limit']).toBe(String(max));
  expect(response.headers['ratelimit-remaining']).toBe('0');
  expect(Number(response.headers['ratelimit-reset'])).toBeGreaterThanOrEqual(1);
  // Like every answer (API.md "Errors"), a 429 carries the security headers, whichever limit refused it.
  expect(response.headers['strict-transport-security']).toBe('max-age=63072000; includeSubDomains');
  expect(response.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
  expect(response.headers['x-content-type-options']).toBe('nosniff');
  expect(response.headers['x-frame-options']).toBe('DENY');
}

/** Sends requests until one is answered 429 (at most `bound`), and returns that answer and how many passed before it. */
export async function untilLimited(send: () => Promise<LightMyRequestResponse>, bound = 100): Promise<{ passed: number; limited: LightMyRequestResponse }> {
  for (let passed = 0; passed < bound; passed += 1) {
    const response = await send();
    if (response.statusCode === 429) return { passed, limited: response };
    expect(response.statusCode, response.body).toBeLessThan(400);
  }
  throw new Error(`no 429 within ${bound} requests`);
}

/**
 * One source floods (`flood` requests, `wave` at a time) while a second source sends one request
 * per wave alongside; returns the flood's statuses and the second source's answers and latencies.
 */
export async function floodWithBystander(
  flood: () => Promise<LightMyRequestResponse>,
  bystander: () => Promise<LightMyRequestResponse>,
  count: number,
  wave = 10,
): Promise<{ flooded: LightMyRequestResponse[]; served: LightMyRequestResponse[]; latenciesMs: number[] }> {
  const flooded: LightMyRequestResponse[] = [];
  const served: LightMyRequestResponse[] = [];
  const latenciesMs: number[] = [];
  const timed = async () => {
    const started = performance.now();
    const response = await bystander();
    latenciesMs.push(performance.now() - started);
    served.push(response);
  };
  for (let sent = 0; sent < count; sent += wave) {
    const floodWave = Array.from({ length: Math.min(wave, count - sent) }, () => flood().then((response) => flooded.push(response)));
    await Promise.all([...floodWave, timed()]);
  }
  return { flooded, served, latenciesMs };
}

export function p99(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
}
