import socket

import pytest
from distributed import Client

from cadenza.devtools.dask_cluster import DaskCluster, DaskClusterError


def _workers(address: str) -> int:
    with Client(address, timeout=10) as client:
        return len(client.scheduler_info()["workers"])


def test_a_cluster_comes_up_with_its_workers_and_stops_with_them(tmp_path):
    cluster = DaskCluster(tmp_path, workers=2)
    with cluster as address:
        assert address == f"tcp://127.0.0.1:{cluster.port}"
        assert _workers(address) == 2
        processes = list(cluster._processes.values())
        assert len(processes) == 3 and all(p.poll() is None for p in processes)
    assert all(p.poll() is not None for p in processes)
    assert cluster.log_path("scheduler").read_text()  # the scheduler logged its start
    assert cluster.log_path("worker-1").exists()


def test_a_picked_port_taken_before_the_scheduler_binds_it_is_picked_again(tmp_path):
    cluster = DaskCluster(tmp_path, workers=1)
    picked = cluster.port
    with socket.socket() as taken:  # another process gets there first
        taken.bind(("127.0.0.1", picked))
        taken.listen()
        with cluster as address:
            assert cluster.port != picked
            assert _workers(address) == 1
    assert "address already in use" in cluster.log_path("scheduler").read_text().lower()


def test_a_given_port_that_is_taken_fails_at_once_with_the_schedulers_log(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cluster = DaskCluster(tmp_path, workers=1, port=port)
        with pytest.raises(DaskClusterError) as err:
            cluster.start()
    message = str(err.value)
    assert (
        f"dask scheduler exited with status 1 while the cluster started (scheduler port {port})"
        in message
    )
    assert "address already in use" in message.lower()
    assert str(cluster.log_path("scheduler")) in message
    assert cluster._processes == {}  # the workers it started were stopped
