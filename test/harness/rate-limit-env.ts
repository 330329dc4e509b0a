/**
 * Request-rate limits high enough that no suite meets them by accident: suites make many requests
 * from one address (inject()'s, or loopback), and each limit has its own test that sets it low and
 * proves it (test/api/rate-limits.test.ts, route-rate-limits.test.ts, the sign-up limit's test).
 */
export const HIGH_RATE_LIMITS: Readonly<Record<string, string>> = {
  CONFIDE_SIGNUPS_PER_IP_PER_HOUR: '1000000',
  CONFIDE_RATE_LIMIT_PER_IP: '1000000',
  CONFIDE_RATE_LIMIT_PER_ACCOUNT: '1000000',
  CONFIDE_RATE_LIMIT_PER_API_KEY: '1000000',
  CONFIDE_RATE_LIMIT_PER_TENANT: '1000000',
  CONFIDE_SIGNINS_PER_IP_PER_MINUTE: '1000000',
  CONFIDE_PASSWORD_RESETS_PER_IP_PER_MINUTE: '1000000',
  CONFIDE_INVITATION_SENDS_PER_IP_PER_MINUTE: '1000000',
};
