"""Federation on one machine: sandboxes with their own domains, in groups that share a CA and a network
(group.py), names the host resolves (names.py), and the traffic between them (traffic.py: settle, deliveries)."""
