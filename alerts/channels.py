"""Delivery channels: apprise URLs, WeCom / DingTalk robots, SMS via apprise, MQTT per crew."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, Protocol

import apprise
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from alerts.config import ChannelSpec
from alerts.staff_text import escape_markdown
from workflow.outbox import OutboxRow

log = logging.getLogger("heatwatch.alerts")

DEDUP_HEADER = "X-Heatwatch-Dedup"
WECOM_BASE = "https://qyapi.weixin.qq.com"
DINGTALK_BASE = "https://oapi.dingtalk.com"

# Residents' phone numbers never reach a log line (issue 5): 7+ digit runs are masked.
_PHONE = re.compile(r"\+?\d[\d\- ]{5,}\d")


def redact(text: str) -> str:
    """Mask anything that looks like a phone number."""
    return _PHONE.sub("***", text)


class RedactPhones(logging.Filter):
    """A log filter that masks phone-like digit runs in every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


def guard_logs() -> None:
    """Install the phone filter on our logger and apprise's (which logs target URLs)."""
    for name in ("heatwatch.alerts", "apprise"):
        lg = logging.getLogger(name)
        if not any(isinstance(f, RedactPhones) for f in lg.filters):
            lg.addFilter(RedactPhones())
    # apprise logs full URLs (with an SMS target's number) at debug level
    logging.getLogger("apprise").setLevel(logging.WARNING)


class ChannelError(Exception):
    """A send that did not go through; the outbox retries it later."""


class Channel(Protocol):
    name: str

    def send(self, row: OutboxRow) -> None: ...

    def close(self) -> None: ...


PhoneLookup = Callable[[str], str]


class AppriseChannel:
    """Any apprise URL (json:// webhooks, mailto://, SMS gateways, ...); dedup key as a header."""

    def __init__(self, name: str, url: str, timeout_s: float = 5.0,
                 phone_of: PhoneLookup | None = None) -> None:
        self.name = name
        self.url = url
        self.timeout_s = timeout_s
        self.phone_of = phone_of
        self._cached: apprise.Apprise | None = None

    def _url(self, row: OutboxRow) -> str:
        url = self.url
        if "{phone}" in url:
            phone = self.phone_of(row.target) if self.phone_of else ""
            if not phone:
                raise ChannelError(f"account {row.target} has no phone")
            url = url.replace("{phone}", urllib.parse.quote(phone))
        if url.startswith(("json://", "jsons://", "form://", "forms://", "xml://", "xmls://")):
            sep = "&" if "?" in url else "?"
            url += f"{sep}+{DEDUP_HEADER}={urllib.parse.quote(row.dedup_key, safe='')}"
        # apprise's connect / read timeouts (cto / rto): a hung receiver fails this channel only
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}cto={self.timeout_s:g}&rto={self.timeout_s:g}"

    def send(self, row: OutboxRow) -> None:
        a = self._cached if "{phone}" not in self.url else None
        if a is None:
            a = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))
            if not a.add(self._url(row)):
                raise ChannelError(f"channel {self.name}: apprise does not accept its url")
            if "{phone}" not in self.url:
                self._cached = a
        for server in a:
            # a reused webhook object: the dedup key header is set per message
            headers = getattr(server, "headers", None)
            if isinstance(headers, dict):
                headers[DEDUP_HEADER] = row.dedup_key
        if not a.notify(body=row.body, title=row.title):
            raise ChannelError(f"channel {self.name}: apprise could not deliver")

    def close(self) -> None:
        pass


def _post_json(url: str, payload: dict[str, Any], timeout_s: float, dedup: str) -> bytes:
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", DEDUP_HEADER: dedup})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            body: bytes = resp.read()
            return body
    except urllib.error.HTTPError as e:
        raise ChannelError(f"HTTP {e.code}") from None
    except (urllib.error.URLError, OSError) as e:
        raise ChannelError(f"{type(e).__name__}: {getattr(e, 'reason', e)}") from None


def _check_errcode(body: bytes, platform: str) -> None:
    try:
        reply = json.loads(body or b"{}")
    except ValueError:
        return
    if isinstance(reply, dict) and reply.get("errcode", 0) != 0:
        raise ChannelError(f"{platform} errcode {reply.get('errcode')}: {reply.get('errmsg')}")


def wecom_payload(row: OutboxRow) -> dict[str, Any]:
    """WeCom group robot markdown message (msgtype markdown, content ≤ 4096 bytes)."""
    # staff text may be in the body: markup escaped, so no line or link can be forged
    content = f"**{escape_markdown(row.title)}**\n{escape_markdown(row.body)}"
    return {"msgtype": "markdown", "markdown": {"content": content[:1300]}}


def dingtalk_payload(row: OutboxRow) -> dict[str, Any]:
    """DingTalk custom robot markdown message (msgtype markdown with title and text)."""
    text = (f"#### {escape_markdown(row.title)}\n\n"
            + escape_markdown(row.body).replace("\n", "\n\n"))
    return {"msgtype": "markdown", "markdown": {"title": row.title, "text": text}}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature: base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>"))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(),
                      hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class WeComRobot:
    """A WeCom (企业微信) group robot: POST <base>/cgi-bin/webhook/send?key=<key>."""

    def __init__(self, name: str, key: str, base_url: str = "", timeout_s: float = 5.0) -> None:
        self.name = name
        self.url = (base_url or WECOM_BASE).rstrip("/") + "/cgi-bin/webhook/send?key=" + \
            urllib.parse.quote(key, safe="")
        self.timeout_s = timeout_s

    def send(self, row: OutboxRow) -> None:
        _check_errcode(_post_json(self.url, wecom_payload(row), self.timeout_s, row.dedup_key),
                       "WeCom")

    def close(self) -> None:
        pass


class DingTalkRobot:
    """A DingTalk (钉钉) custom robot: POST <base>/robot/send?access_token=..[&timestamp&sign]."""

    def __init__(self, name: str, access_token: str, secret: str = "", base_url: str = "",
                 timeout_s: float = 5.0, clock_ms: Callable[[], int] | None = None) -> None:
        self.name = name
        self.base = (base_url or DINGTALK_BASE).rstrip("/") + "/robot/send"
        self.access_token = access_token
        self.secret = secret
        self.timeout_s = timeout_s
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))

    def url(self) -> str:
        q = {"access_token": self.access_token}
        if self.secret:
            # DingTalk: a signed robot rejects a timestamp more than an hour off real time
            ts = self.clock_ms()
            q |= {"timestamp": str(ts), "sign": dingtalk_sign(self.secret, ts)}
        return self.base + "?" + urllib.parse.urlencode(q)

    def send(self, row: OutboxRow) -> None:
        _check_errcode(_post_json(self.url(), dingtalk_payload(row), self.timeout_s,
                                  row.dedup_key), "DingTalk")

    def close(self) -> None:
        pass


class MqttChannel:
    """Orders as JSON on `heat/orders/<crew>`, QoS 1, retained off; one connection reused."""

    def __init__(self, name: str, host: str, port: int, topic_prefix: str = "heat/orders",
                 username: str = "", password: str = "", timeout_s: float = 5.0) -> None:
        self.name = name
        self.host, self.port = host, port
        self.prefix = topic_prefix.rstrip("/")
        self.username, self.password = username, password
        self.timeout_s = timeout_s
        self._client: mqtt.Client | None = None
        self._lock = threading.Lock()

    def _connect(self) -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="",
                        protocol=mqtt.MQTTv311)
        if self.username:
            c.username_pw_set(self.username, self.password)
        try:
            c.connect(self.host, self.port, keepalive=30)
        except OSError as e:
            raise ChannelError(f"MQTT {self.host}:{self.port}: {e}") from None
        c.loop_start()
        return c

    def send(self, row: OutboxRow) -> None:
        crew = str(row.data.get("crew") or row.target or "all")
        payload = {"dedup_key": row.dedup_key, "title": row.title, "body": row.body, **row.data}
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            info = self._client.publish(f"{self.prefix}/{crew}",
                                        json.dumps(payload, ensure_ascii=False), qos=1)
            try:
                info.wait_for_publish(self.timeout_s)
            except (RuntimeError, ValueError) as e:
                self._drop()
                raise ChannelError(f"MQTT publish failed: {e}") from None
            if not info.is_published():
                self._drop()
                raise ChannelError("MQTT publish not acknowledged in time")

    def _drop(self) -> None:
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
            self._client = None

    def close(self) -> None:
        with self._lock:
            self._drop()


def build_channel(spec: ChannelSpec, timeout_s: float,
                  phone_of: PhoneLookup | None = None) -> Channel:
    """One channel object from its config."""
    if spec.kind == "wecom":
        return WeComRobot(spec.name, spec.key, spec.base_url, timeout_s)
    if spec.kind == "dingtalk":
        return DingTalkRobot(spec.name, spec.access_token, spec.secret, spec.base_url, timeout_s)
    if spec.kind == "mqtt":
        return MqttChannel(spec.name, spec.host, spec.port, spec.topic_prefix, spec.username,
                           spec.password, timeout_s)
    return AppriseChannel(spec.name, spec.url, timeout_s, phone_of)
