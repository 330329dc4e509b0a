import { v7 as uuidv7, validate, version } from 'uuid';

/** Every identifier Confide mints is a UUIDv7: unique, and ordered by creation time. */
export function newId(): string {
  return uuidv7();
}

export function isUuid(value: string): boolean {
  return validate(value) && version(value) === 7;
}
