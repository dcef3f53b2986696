import { backendSuite } from './backend-suite.js';

// ufw itself, enabled in the server namespace over a private copy of /etc/ufw.
backendSuite({ name: 'ufw over IPv4', backend: 'ufw', family: 'ipv4' });
backendSuite({ name: 'ufw over IPv6', backend: 'ufw', family: 'ipv6' });
