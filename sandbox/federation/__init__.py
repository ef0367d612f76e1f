"""Federation on one machine: sandboxes with their own domains, in groups that share a CA and a network
(group.py), names the host resolves (names.py), the traffic between them (traffic.py: settle, deliveries) and
a group's snapshots (snapshots.py). group.py and names.py are orchestration; traffic.py and snapshots.py work
on the members' data, in the data layer."""
