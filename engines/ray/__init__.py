"""The Ray engine: the lab's topologies as Ray actors placed by region on a Ray cluster.

``aftershock lab up TOPOLOGY --engine ray [--ray-address HOST:PORT]``. Without an address a local multi-node
cluster is started on loopback (one Ray node per region, each carrying the resource ``region:NAME``) and stopped
with the lab; with one, the topology is deployed onto that cluster, which is never stopped (docs/engines.md).

Modules: :mod:`.options` (what the engine is told, Ray's failure detection on the lab's clock), :mod:`.cluster`
(the local cluster, bad-input checks), :mod:`.actor` (a node as a Ray actor), :mod:`.runtime` (the supervisor's
connection to Ray and Ray's view), :mod:`.launcher` and :mod:`.supervisor` (the lab's supervisor with actors),
:mod:`.engine` (bring up, the ``Engine``), :mod:`.keeper` (nothing of a Ray node outlives its supervisor).
Only :mod:`.supervisor`, :mod:`.runtime`, :mod:`.launcher` and :mod:`.actor` import Ray.
"""
