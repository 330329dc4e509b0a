/**
 * Who acted, as the access log records it. Defined in `core` (not `audit`) because principals
 * name their actor too, and `core` depends on nothing but `lib`.
 */
/** `operator`: someone on the host, through the `confide` command (its id is `host:<user>`); today only a tenant's deletion. */
export type ActorType = 'member' | 'apiKey' | 'staff' | 'operator';

export interface Actor {
  type: ActorType;
  id: string;
}
