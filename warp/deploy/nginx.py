"""nginx: a server block in front of the app, static files served by nginx itself."""

from __future__ import annotations

import ipaddress
import re

from warp import servers
from warp.deploy.base import Deployment, File, check_utf8, find_unit_name, make_cannot_express, make_header
from warp.errors import UsageError
from warp.plan import StartPlan

#: Runs on this machine, where the plan's host and port (or socket) are fixed, not on a platform that gives $PORT.
PLATFORM = False
#: nginx's default (1m) refuses ordinary uploads; Django's own limits apply behind it.
CLIENT_MAX_BODY_SIZE = "10m"
#: Collected static files change name only with ManifestStaticFilesStorage, so a month rather than a year.
STATIC_EXPIRES = "30d"


def find_upstream(plan: StartPlan) -> str:
    """Where nginx reaches the server: the plan's Unix socket, else its host and port (a wildcard host via loopback)."""
    if plan.socket:
        return f"unix:{plan.socket}"
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(plan.host, plan.host)
    return f"[{host}]:{plan.port}" if ":" in host else f"{host}:{plan.port}"


_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")


def find_listen(raw: str) -> str:
    """nginx's ``listen`` from --listen: a port, address:port or [IPv6 address]:port, never more words or directives."""
    host, colon, port = raw.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        is_host = _is_address(host[1:-1], ipaddress.IPv6Address)
    else:
        is_host = not colon or host == "*" or _is_address(host, ipaddress.IPv4Address) or (
            _HOSTNAME.fullmatch(host) is not None and not host.replace(".", "").isdecimal())  # 1.2.3 is no name
    if not (is_host and port.isascii() and port.isdecimal() and 1 <= int(port) <= 65535):
        raise UsageError(f"--listen {raw!r} is not a port, address:port or [IPv6 address]:port",
                         hint="e.g. --listen 80, --listen 127.0.0.1:8081 or --listen [::1]:8081")
    return f"{host}:{port}" if colon else port


def _is_address(text: str, kind: type) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


#: The C escapes nginx reads in a word (ngx_conf_read_token); inside quotes a ; { } # or blank is plain text.
_ESCAPES = {"\\": "\\\\", '"': '\\"'}


def _word(value: str, where: str, *, variables: bool = False) -> str:
    """One word of an nginx directive, quoted when it holds more than plain path characters. In a directive that
    expands ``variables`` (alias), nginx has no way to write a literal $, so one is refused."""
    check_utf8("nginx", where, value)
    if variables and "$" in value:
        raise make_cannot_express("nginx", "$", where, value)
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", value):
        return value
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


def render(plan: StartPlan, dep: Deployment) -> list[File]:
    """A server block in front of the app: static files from STATIC_ROOT by nginx (unless the app serves them), the rest to the server."""
    upstream = f"warp_{find_unit_name(dep.name).replace('-', '_')}"
    websockets = plan.launch is not None and plan.launch.interface == "asgi"
    lines = [
        make_header("#", "export nginx", dep).rstrip(),
        f"upstream {upstream} {{",
        f"    server {_word(find_upstream(plan), 'upstream server')};",
        "}",
        "",
    ]
    if websockets:
        lines += [
            "# An ASGI app may take WebSockets: an Upgrade request is passed on as one, any other with its connection closed.",
            f"map $http_upgrade ${upstream}_connection {{",
            "    default upgrade;",
            "    '' close;",
            "}",
            "",
        ]
    lines += [
        "server {",
        f"    listen {find_listen(dep.listen)};",
        "    server_name _;",
        f"    client_max_body_size {CLIENT_MAX_BODY_SIZE};",
        "",
        "    # Source code is never served, whatever the location.",
        r"    location ~ \.py$ {",
        "        deny all;",
        "    }",
    ]
    static_url = "/" + plan.static_url.strip("/") + "/" if plan.static_url and plan.static_url.strip("/") else None
    # An app that serves its static files itself (its WhiteNoise middleware) keeps them: it sets their headers.
    if plan.static_root and static_url and not plan.target.app_serves_static:
        lines += [
            "",
            "    # Django's collected static files, served by nginx itself, with the .gz copies collectstatic wrote.",
            f"    location {_word(static_url, 'location')} {{",
            f"        alias {_word(str(plan.static_root).rstrip('/') + '/', 'alias', variables=True)};",
            f"        expires {STATIC_EXPIRES};",
            "        gzip_static on;",
            "        add_header Vary Accept-Encoding;",
            "        # A hashed name (ManifestStaticFilesStorage) never changes content: cached for good.",
            f'        location ~ "{servers.HASHED_STATIC_NAME}" {{',
            "            expires off;",
            f'            add_header Cache-Control "{servers.IMMUTABLE_CACHE_CONTROL}";',
            "            add_header Vary Accept-Encoding;",
            "        }",
            "    }",
        ]
    lines += ["", "    location / {"]
    adapter = plan.adapter or servers.Adapter()  # app.py and app.sh speak HTTP
    lines += [f"        {line}" for line in adapter.proxy_directives(upstream)]
    if websockets:
        lines += [
            "        proxy_http_version 1.1;",
            "        proxy_set_header Upgrade $http_upgrade;",
            f"        proxy_set_header Connection ${upstream}_connection;",
            # An open WebSocket is idle between messages: nginx's default 60 s would close it.
            "        proxy_read_timeout 1h;",
        ]
    lines += ["    }", "}"]
    return [File(f"{dep.name}.nginx.conf", "\n".join(lines) + "\n")]
