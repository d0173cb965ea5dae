"""The lab's child processes: nodes hosting agents, hubs, the load generator, and what they run (SWIM
membership, session memory), started by the supervisor as ``python -m fleet.agents ROLE NAME``.

``net.py`` (the network as a lab process sees it, and the small aiohttp helpers every lab server uses) and
``proc.py`` (the ties of a child to its parent: death signal, parent watch, the ready line) live here because
they are the children's side of the process edge. The supervisor configures and reads its children, so it may
import this edge (``config``, ``net``, ``proc``); nothing here imports the supervisor (pyproject.toml's contract).
"""
