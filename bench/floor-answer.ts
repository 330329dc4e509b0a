/**
 * The floors' record answers (bench/floor-server.ts, bench/floor-postgres-server.ts): the record's
 * JSON text spliced in as it was sealed or opened, not parsed only to be serialised again, as
 * Confide answers (src/records/record-json.ts). The floors keep each promise as cheaply as Confide
 * can, so that saving is not counted as how Confide is built.
 */
export const JSON_UTF8 = 'application/json; charset=utf-8';

/** `{"id","data","version","createdAt"}`, the floors' answer to a create or a read. */
export function floorRecordJson(id: string, dataJson: string, version: number, createdAt: string): string {
  return `{"id":${JSON.stringify(id)},"data":${dataJson},"version":${version},"createdAt":${JSON.stringify(createdAt)}}`;
}
