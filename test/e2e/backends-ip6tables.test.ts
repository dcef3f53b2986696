import { backendSuite } from './backend-suite.js';

backendSuite({ name: 'ip6tables-legacy', backend: 'ip6tables', family: 'ipv6', tool: 'ip6tables-legacy' });
backendSuite({ name: 'ip6tables-nft', backend: 'ip6tables', family: 'ipv6', tool: 'ip6tables-nft' });
