"""The seam to the cluster: one context's API client, the API groups Aftershock uses, one-line errors.

Every call Aftershock makes itself goes through :meth:`ClusterApi.call`, which turns the client's
exceptions (HTTP errors, an unreachable API server, a broken kubeconfig) into :class:`EngineError`
messages naming the context, what was being done and what to do. The API objects are built from
``kubernetes.client`` on each use (``client.CoreV1Api(api)``), the same seam chaostoolkit-kubernetes uses, so
a test that replaces those classes sees every call, ours and chaostoolkit-kubernetes' alike.

The kubeconfig is the one every Kubernetes client reads (``$KUBECONFIG``, else ``~/.kube/config``), read
when the client is made (not at import), exactly as chaostoolkit-kubernetes reads it, so both talk to the
same cluster.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import urllib3
from chaoslib.exceptions import ActivityFailed
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException

from core.errors import EngineError

__all__ = ["ClusterApi", "kubeconfig_path", "list_contexts", "api_client_for", "ApiException", "not_found"]

log = logging.getLogger("aftershock.engines.kubernetes")
T = TypeVar("T")
#: Timeout of each API call Aftershock makes itself (connect, read).
REQUEST_TIMEOUT_S = (5.0, 15.0)


def kubeconfig_path(environ: Mapping[str, str] | None = None) -> str:
    """``$KUBECONFIG`` or ``~/.kube/config``, as chaostoolkit-kubernetes and kubectl find it."""
    env = os.environ if environ is None else environ
    return os.path.expanduser(env.get("KUBECONFIG") or "~/.kube/config")


def list_contexts(config_file: str | None = None) -> tuple[list[str], str | None]:
    """The kubeconfig's context names and its current context."""
    path = config_file or kubeconfig_path()
    if not all(Path(p).expanduser().exists() for p in path.split(os.pathsep) if p):
        raise EngineError(f"no kubeconfig at {path}; set KUBECONFIG or create one with your cluster's tooling "
                          "(kubectl config view must list the context)")
    try:
        contexts, current = config.list_kube_config_contexts(config_file=path)
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise EngineError(f"kubeconfig {path} is unreadable: {exc}") from None
    return [str(c.get("name")) for c in contexts or []], (current or {}).get("name")


def api_client_for(context: str, config_file: str | None = None) -> client.ApiClient:
    """An API client of ``context`` that leaves the process-wide default configuration alone."""
    names, _current = list_contexts(config_file)
    if context not in names:
        raise EngineError(f"unknown kube context {context!r} (contexts in {config_file or kubeconfig_path()}: "
                          f"{', '.join(names) or 'none'}); pass one of them to --kube-context")
    try:
        return config.new_client_from_config(config_file=config_file or kubeconfig_path(), context=context,
                                             persist_config=False)
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise EngineError(f"kube context {context!r} cannot be loaded: {exc}") from None


def not_found(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 404


class ClusterApi:
    """The API groups of one context; ``api_client`` is injectable (tests pass one that reaches nothing)."""

    def __init__(self, context: str, *, api_client: client.ApiClient | None = None,
                 factory: Callable[[str], client.ApiClient] | None = None,
                 timeout_s: tuple[float, float] = REQUEST_TIMEOUT_S) -> None:
        self.context = context
        self.timeout_s = timeout_s
        self._api_client = api_client
        self._factory = factory

    @property
    def api_client(self) -> client.ApiClient:
        if self._api_client is None:
            # looked up here, not bound at definition: tests replace the module's ``api_client_for`` seam
            self._api_client = (self._factory or api_client_for)(self.context)
        return self._api_client

    @property
    def secrets(self) -> dict[str, str]:
        """What chaostoolkit-kubernetes' actions take to use the same context."""
        return {"KUBERNETES_CONTEXT": self.context}

    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api_client)

    def apiextensions(self) -> client.ApiextensionsV1Api:
        return client.ApiextensionsV1Api(self.api_client)

    def call(self, what: str, fn: Callable[[], T], *, allow_404: bool = False) -> T | None:
        """Run one API call; every failure becomes one line naming the context and ``what``."""
        try:
            return fn()
        except ApiException as exc:
            if allow_404 and exc.status == 404:
                return None
            raise EngineError(self._api_error(what, exc)) from None
        except ActivityFailed as exc:  # chaostoolkit-kubernetes' own failures
            raise EngineError(f"kube context {self.context}: {what} failed: {str(exc).splitlines()[0][:300]}") \
                from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise EngineError(f"cannot reach the API server of kube context {self.context} ({what}): {reason}; "
                              "check the cluster is up and `kubectl --context "
                              f"{self.context} get ns` works") from None

    def _api_error(self, what: str, exc: ApiException) -> str:
        status = exc.status or 0
        reason = (exc.reason or "").strip()
        if status in (401, 403):
            return (f"kube context {self.context} refused {what} (HTTP {status} {reason}); the credentials lack "
                    "the RBAC rights listed in docs/engines.md")
        return f"kube context {self.context}: {what} failed with HTTP {status} {reason}".rstrip()

    def __repr__(self) -> str:
        return f"ClusterApi(context={self.context!r})"

