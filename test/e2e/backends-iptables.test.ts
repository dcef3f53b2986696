import { backendSuite } from './backend-suite.js';

backendSuite({ name: 'iptables-legacy', backend: 'iptables', family: 'ipv4', tool: 'iptables-legacy' });
backendSuite({ name: 'iptables-nft', backend: 'iptables', family: 'ipv4', tool: 'iptables-nft' });
