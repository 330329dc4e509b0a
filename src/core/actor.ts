/**
 * Who acted, as the access log records it. Defined in `core` (not `audit`) because principals
 * name their actor too, and `core` depends on nothing but `lib`.
 */
export type ActorType = 'member' | 'apiKey' | 'staff';

export interface Actor {
  type: ActorType;
  id: string;
}
