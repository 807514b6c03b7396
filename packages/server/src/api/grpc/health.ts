import { HealthCheckResponse_ServingStatus as Status, HealthService, type HealthCheckRequest, type HealthCheckResponse } from '@latchkey/proto';
import type { EtcdServer } from '../../node/etcd-server.js';
import type { ServerCall, ServiceImpl } from './h2-server.js';

/** grpc.health.v1: the empty service name ("") is SERVING while the member has a leader, as etcd registers it. */
export function healthService(s: EtcdServer): ServiceImpl<typeof HealthService> {
  const status = (): Status => (s.leader !== 0n ? Status.SERVING : Status.NOT_SERVING);
  return {
    async Check(req) {
      if (req.service !== '') return { status: Status.SERVICE_UNKNOWN };
      return { status: status() };
    },
    Watch(call) {
      const stream = call as ServerCall<HealthCheckRequest, HealthCheckResponse>;
      let last: Status | undefined;
      const send = () => {
        const st = stream.request.service === '' ? status() : Status.SERVICE_UNKNOWN;
        if (st !== last) stream.write({ status: (last = st) });
      };
      send();
      const timer = setInterval(send, 1000);
      stream.on('cancelled', () => clearInterval(timer));
      stream.on('close', () => clearInterval(timer));
    },
  };
}
