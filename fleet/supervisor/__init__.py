"""The lab supervisor process, ``python -m fleet.supervisor``: the machine room.

It starts a topology's processes and keeps their records, injects faults from outside them, runs the link
layer (one egress proxy per region), serves the control API (chaos) and the provisioning API (the
deployment's own orchestrators), and writes the lab state. Its children (``fleet.agents``) die with it.
"""
