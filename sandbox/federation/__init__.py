"""Federation on one machine: sandboxes with their own domains, in groups that share a CA and a network
(group.py), names the host resolves (names.py), apps on this machine exposed to a group (exposure.py), the
traffic between them (traffic.py: settle, deliveries), a group's snapshots (snapshots.py) and seed data across
its members (seed.py). group.py, names.py and exposure.py are orchestration; traffic.py, snapshots.py and
seed.py work on the members' data, in the data layer."""
