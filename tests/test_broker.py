"""Which broker the configuration builds, its middleware, and how unreachable ones are reported."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage

from lifeorg.broker import InProcessBroker, build_broker, check
from lifeorg.errors import BrokerError
from lifeorg.middleware import DatabaseConnection, StepMetrics
from tests.conftest import ROOT, make_settings


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the socket closes


def test_no_broker_url_gives_the_in_process_broker(tmp_path):
    """The laptop default needs no server."""
    broker = build_broker(make_settings(tmp_path))
    assert isinstance(broker, InProcessBroker)
    assert "in-process" in check(broker)


def test_every_broker_gets_the_project_middleware_once(tmp_path, redis_url):
    """Connection handling, metrics and the current message are on every broker kind."""
    for settings in (
        make_settings(tmp_path),
        make_settings(tmp_path, redis_url=redis_url),
        make_settings(tmp_path, broker_url="amqp://guest:guest@127.0.0.1:5672/"),
    ):
        kinds = [type(m) for m in build_broker(settings).middleware]
        for wanted in (CurrentMessage, DatabaseConnection, StepMetrics):
            assert kinds.count(wanted) == 1, (settings.queue_url, wanted)


def test_redis_url_gives_a_namespaced_redis_broker_that_answers(tmp_path, redis_url):
    """REDIS_URL selects Redis; the namespace keeps instances on one server apart."""
    broker = build_broker(make_settings(tmp_path, redis_url=redis_url, queue_namespace="lo-x"))
    assert isinstance(broker, RedisBroker)
    assert broker.namespace == "lo-x"
    assert "Redis" in check(broker)


def test_an_amqp_broker_url_gives_rabbitmq_and_wins_over_redis(tmp_path, redis_url):
    """LIFEORG_BROKER_URL=amqp://... selects RabbitMQ even when REDIS_URL is set too."""
    settings = make_settings(
        tmp_path, redis_url=redis_url, broker_url="amqp://guest:guest@127.0.0.1:5672/"
    )
    assert isinstance(build_broker(settings), RabbitmqBroker)


def test_rabbitmq_round_trip_when_a_server_is_running(tmp_path):
    """A message sent through a real RabbitMQ comes back (skipped where none runs: optional)."""
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        pytest.skip("no RabbitMQ on 127.0.0.1:5672 (an optional broker; Redis is the default)")
    import dramatiq

    broker = build_broker(make_settings(tmp_path, broker_url="amqp://guest:guest@127.0.0.1:5672/"))
    assert "RabbitMQ" in check(broker)
    queue = f"lifeorg-test-{_closed_port()}"
    broker.declare_queue(queue)
    try:
        sent = dramatiq.Message(
            queue_name=queue, actor_name="ping", args=(42,), kwargs={}, options={}
        )
        broker.enqueue(sent)
        consumer = broker.consume(queue, timeout=5000)
        received = next(m for m in consumer if m is not None)
        consumer.ack(received)
        consumer.close()
        assert (received.message_id, received.args) == (sent.message_id, (42,))
    finally:
        broker.channel.queue_delete(queue)
        broker.close()


def test_an_unreachable_redis_is_a_clear_broker_error(tmp_path):
    """Nobody listening: BrokerError says so, and hides the password."""
    url = f"redis://:hunter2@127.0.0.1:{_closed_port()}/0"
    broker = build_broker(make_settings(tmp_path, redis_url=url))
    with pytest.raises(BrokerError, match="cannot reach the broker") as caught:
        check(broker)
    assert "hunter2" not in str(caught.value)


def test_importing_actors_before_the_broker_is_set_up_fails_clearly():
    """Actors bound to Dramatiq's default broker would be a silent misconfiguration."""
    result = subprocess.run(
        [sys.executable, "-c", "import lifeorg.actors"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "setup_broker(settings) before importing lifeorg.actors" in result.stderr


def test_heroku_redis_tls_can_skip_certificate_checks(tmp_path):
    """LIFEORG_REDIS_TLS_VERIFY=false: the broker's rediss:// pool does not check the cert."""
    import ssl

    from lifeorg.broker import build_broker
    from tests.conftest import make_settings

    url = "rediss://:pw@redis.example.com:6380/0"
    checked = build_broker(make_settings(tmp_path, redis_url=url))
    unchecked = build_broker(make_settings(tmp_path, redis_url=url, redis_tls_verify=False))
    assert checked.client.connection_pool.connection_kwargs.get("ssl_cert_reqs") in (
        None,
        "required",
        ssl.CERT_REQUIRED,
    )
    assert unchecked.client.connection_pool.connection_kwargs["ssl_cert_reqs"] in (
        "none",
        ssl.CERT_NONE,
    )
    plain = make_settings(tmp_path, redis_tls_verify=False).redis_connection_url("redis://h/0")
    assert plain == "redis://h/0"  # only TLS connections are affected
