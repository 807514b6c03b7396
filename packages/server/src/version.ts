/** The etcd release whose v3 API latchkey speaks; reported by Status and /version so clients gate features right. */
export const ETCD_VERSION = '3.5.17';
/** The cluster version reported by /version. */
export const ETCD_CLUSTER_VERSION = '3.5.0';
/** latchkey's own version. */
export const LATCHKEY_VERSION = '0.1.0';
