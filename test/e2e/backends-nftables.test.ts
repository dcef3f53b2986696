import { backendSuite } from './backend-suite.js';

backendSuite({ name: 'IPv4', backend: 'nftables', family: 'ipv4' });
backendSuite({ name: 'IPv6', backend: 'nftables', family: 'ipv6' });
