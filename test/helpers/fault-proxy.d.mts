// Types of fault-proxy.mjs (plain JS so that the soak script can use it unbuilt).

export type ConnectionFault =
  | { kind: 'pass' }
  | { kind: 'reset' }
  | { kind: 'delay'; ms: number }
  | { kind: 'hang' };

export type RequestFault =
  | { kind: 'pass' }
  | { kind: 'reset'; afterBytes: number }
  | { kind: 'stall'; afterBytes: number }
  | { kind: 'trickle'; bytesPerSec: number }
  | { kind: 'early'; afterBytes: number; status: number }
  | { kind: 'drop' }
  | { kind: 'garbage'; bytes?: number }
  | { kind: 'truncated'; keep: number; afterHead?: boolean };

export interface RequestInfo {
  /** 1-based count of requests the proxy has seen. */
  req: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  /** Content-Length (Infinity for a chunked body). */
  length: number;
}

export interface Plan {
  connection?: (n: number) => ConnectionFault | null | undefined;
  request?: (r: RequestInfo) => RequestFault | null | undefined;
}

export interface ProxyEvent {
  t: number;
  what: 'connection' | 'request' | 'tls_client_error';
  conn?: number;
  req?: number;
  method?: string;
  path?: string;
  length?: number;
  fault?: string;
  /** Body bytes the proxy read from the client. */
  body?: number;
  /** relayed | reset | stalled | answered_early | dropped | garbage | truncated | no_answer | client_closed | upstream_error */
  outcome?: string;
  code?: string;
}

export interface FaultProxy {
  readonly port: number;
  readonly url: string;
  readonly stats: { connections: number; requests: number; bytesIn: number; byFault: Record<string, number> };
  readonly events: ProxyEvent[];
  setPlan(plan: Plan): void;
  /** Stop listening: new connections are refused (ECONNREFUSED). */
  refuse(): Promise<void>;
  /** Listen again on the same port. */
  accept(): Promise<void>;
  dropAll(): void;
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  upstream: { host: string; port: number };
  /** What the proxy presents to the shipper: the receiver's CA, certificate and key. */
  serverTls: { ca: Buffer | string; cert: Buffer | string; key: Buffer | string };
  /** What the proxy presents to the receiver: a client certificate of the CA. */
  clientTls: { ca: Buffer | string; cert: Buffer | string; key: Buffer | string };
  plan?: Plan;
  port?: number;
}

export function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy>;
