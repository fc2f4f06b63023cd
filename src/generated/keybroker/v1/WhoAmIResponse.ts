// Original file: proto/keybroker/v1/broker.proto


export interface WhoAmIResponse {
  'subject'?: (string);
  'auth_method'?: (string);
  'attributes'?: ({[key: string]: string});
  'grants'?: (string)[];
  'issuer'?: (string);
  'cert_thumbprint'?: (string);
}

export interface WhoAmIResponse__Output {
  'subject': (string);
  'auth_method': (string);
  'attributes': ({[key: string]: string});
  'grants': (string)[];
  'issuer': (string);
  'cert_thumbprint': (string);
}
