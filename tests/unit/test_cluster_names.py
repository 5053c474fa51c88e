"""Cluster node names: by host, and stable once given (jobs record them; resume looks them up)."""

from __future__ import annotations

from collections import Counter

from whisper_ui.cluster.pool import _node_name


def test_a_node_alone_on_its_host_is_named_by_the_host() -> None:
    info = {"NodeManagerHostname": "lab-2", "NodeManagerAddress": "10.0.0.2"}
    assert _node_name(info, "abcdef123456", Counter({"lab-2": 1, "lab-3": 1})) == "lab-2"


def test_nodes_sharing_a_host_get_the_start_of_their_id() -> None:
    hosts = Counter({"vm": 2})
    names = {_node_name({"NodeManagerHostname": "vm"}, n, hosts) for n in ("b353a9ff", "bf9a29aa")}
    assert names == {"vm#b353a9", "vm#bf9a29"}


def test_the_address_names_a_node_whose_host_is_unknown() -> None:
    assert _node_name({"NodeManagerAddress": "10.0.0.7"}, "x" * 20, Counter()) == "10.0.0.7"
