"""Whose address a request comes from: X-Forwarded-For counts from trusted proxies only."""

from __future__ import annotations

import ipaddress

import pytest

from services.gateway.auth import forwarded_client
from services.gateway.config import GatewaySettings

PROXIES = GatewaySettings(trusted_proxies=("10.9.0.0/16", "::1")).trusted_proxy_networks


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_forwards() -> None:
    none = GatewaySettings().trusted_proxy_networks
    assert none == ()
    assert forwarded_client("127.0.0.1", ["203.0.113.7"], none) == "127.0.0.1"


def test_an_untrusted_peer_cannot_name_another_address() -> None:
    assert forwarded_client("198.51.100.1", ["203.0.113.7"], PROXIES) == "198.51.100.1"


def test_a_trusted_proxy_names_the_client_it_saw() -> None:
    assert forwarded_client("10.9.0.5", ["203.0.113.7"], PROXIES) == "203.0.113.7"
    assert forwarded_client("::1", ["2001:db8::7"], PROXIES) == "2001:db8::7"


def test_what_the_client_wrote_left_of_the_proxy_hop_does_not_count() -> None:
    # The client sent "X-Forwarded-For: 192.0.2.66"; the proxy appended the address it saw.
    assert forwarded_client("10.9.0.5", ["192.0.2.66, 203.0.113.7"], PROXIES) == "203.0.113.7"
    assert forwarded_client("10.9.0.5", ["192.0.2.66", "203.0.113.7"], PROXIES) == "203.0.113.7"


def test_chained_trusted_proxies_are_skipped_from_the_right() -> None:
    hops = ["192.0.2.66, 203.0.113.7, 10.9.3.3"]
    assert forwarded_client("10.9.0.5", hops, PROXIES) == "203.0.113.7"
    assert forwarded_client("10.9.0.5", ["10.9.1.1, 10.9.2.2"], PROXIES) == "10.9.1.1"


def test_a_malformed_hop_stops_the_walk_at_the_last_believed_proxy() -> None:
    assert forwarded_client("10.9.0.5", ["203.0.113.7, garbage"], PROXIES) == "10.9.0.5"
    assert forwarded_client("10.9.0.5", [], PROXIES) == "10.9.0.5"
    assert forwarded_client("10.9.0.5", ["[2001:db8::9]:4711"], PROXIES) == "2001:db8::9"
    assert forwarded_client("10.9.0.5", ["203.0.113.7:4711"], PROXIES) == "203.0.113.7"


def test_the_setting_takes_a_comma_separated_list_or_json_and_refuses_nonsense(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWERS_GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
    assert GatewaySettings().trusted_proxy_networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.0.2.1/32"),
    )
    monkeypatch.setenv("FLOWERS_GATEWAY_TRUSTED_PROXIES", '["fd00::/8"]')
    assert GatewaySettings().trusted_proxies == ("fd00::/8",)
    monkeypatch.setenv("FLOWERS_GATEWAY_TRUSTED_PROXIES", "proxy.example")
    with pytest.raises(ValueError, match="not an IP address or network"):
        GatewaySettings()
