/** EnSight's transport defaults: what its server and its client agree on without being told. */

/**
 * EnSight's Unix-socket pathname when `-grpc_uds_pathname` is not given: the socket is this
 * with `.sock` appended (EnSight appends it; so do the client and the emulator here).
 */
export const DEFAULT_UDS_PATHNAME = '/tmp/greeter';
