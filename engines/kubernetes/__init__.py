"""The Kubernetes engine: attach Aftershock to an agent deployment on a cluster (docs/engines.md).

Modules: ``target`` (the stored target, validated), ``labels`` (selectors, opt-in and ownership labels),
``cluster`` (the API client seam, one-line errors), ``ledger`` (what is in place, on disk), ``chaosmesh``
(NetworkChaos bodies), ``engine`` (:class:`~engines.kubernetes.engine.KubernetesEngine`), ``manifests`` (the
lab's topologies as manifests), ``loadgen`` (the ground-truth load generator against a service URL).

This door imports only the light modules: ``engine`` and ``cluster`` pull in the ``kubernetes`` client and
chaostoolkit-kubernetes (about 1.3 s), so :func:`engines.open_target` imports them when a target is opened.
"""

from __future__ import annotations

from engines.kubernetes.labels import OPT_IN_LABEL, OPT_IN_VALUE
from engines.kubernetes.target import DEFAULT_QUERIES, DEFAULT_ZONE_LABEL, KubeTarget, parse_target

__all__ = ["KubeTarget", "parse_target", "DEFAULT_QUERIES", "DEFAULT_ZONE_LABEL", "OPT_IN_LABEL", "OPT_IN_VALUE"]
