"""Debian's Nginx set up like one region of the model deployment, for benchmarks that run real
rounds: every request of lab/sandbox.py's MODEL_REQUESTS answers as expected.

- HTTPS on `port`: `/` is the page (with `<title>`), `/ghost` and everything else 404;
  every answer carries `Strict-Transport-Security`, `X-Release`, `X-Host` and `X-Cache-Status`
  (`BYPASS` for a request with the bypass header, `HIT` otherwise, as the model's proxy cache);
- HTTP on `http_port`: a 301 to `https://$host$request_uri`, but for `/healthz`, which
  answers regionwatch's `{"service":"ok"}` itself (a floor for the `/healthz` benchmark).

It is `BenchNginx` (start, readiness, stop, and the clean-up also when the benchmark dies)
with that configuration, and listen backlogs deep enough for a thousand connections at once.
"""

from __future__ import annotations

import os
import subprocess

import trustme
from nginx import NGINX, PAGE, BenchNginx, child_setup, free_port

__all__ = ["ModelNginx"]

_CONF = """\
{user}worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 8192;
}}
worker_rlimit_nofile 20000;
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/client_body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    default_type text/html;
    ssl_protocols TLSv1.2 TLSv1.3;
    map $http_x_regionwatch_bypass $cache_status {{
        "1" BYPASS;
        default HIT;
    }}
    server {{
        listen {address}:{port} ssl backlog={backlog};
        server_name {hostname};
        ssl_certificate {prefix}/site.pem;
        ssl_certificate_key {prefix}/site.pem;
        root {prefix}/html;
        add_header Strict-Transport-Security "max-age=31536000" always;
        add_header X-Release "1.0.0" always;
        add_header X-Cache-Status $cache_status always;
        add_header X-Host $hostname always;
        location = / {{
            try_files /index.html =404;
        }}
    }}
    server {{
        listen {address}:{http_port} backlog={backlog};
        server_name {hostname};
        location = /healthz {{
            default_type application/json;
            add_header Cache-Control no-store always;
            return 200 '{{"service":"ok"}}';
        }}
        location / {{
            return 301 https://$host$request_uri;
        }}
    }}
}}
"""


class ModelNginx(BenchNginx):
    """Nginx answering the model requests for `hostname` on `address:port` (HTTPS) and
    `address:http_port` (the redirect) until the `with` block ends."""

    backlog = 4096
    http_port = 0

    def _start(self) -> None:
        prefix = self.prefix
        (prefix / "tmp").mkdir()
        (prefix / "html").mkdir()
        (prefix / "html" / "index.html").write_text(PAGE)
        ca = trustme.CA()
        ca.issue_cert(self.hostname).private_key_and_cert_chain_pem.write_to_path(
            str(prefix / "site.pem")
        )
        self.ca_file = prefix / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self.port = free_port(self.address)
        for _ in range(10):  # the kernel may hand the same free port out twice
            self.http_port = free_port(self.address)
            if self.http_port != self.port:
                break
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = prefix / "nginx.conf"
        conf.write_text(
            _CONF.format(
                user=user,
                workers=self.workers,
                prefix=prefix,
                address=self.address,
                port=self.port,
                http_port=self.http_port,
                hostname=self.hostname,
                backlog=self.backlog,
            )
        )
        command = [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
        self._process = subprocess.Popen(
            [*command, "-g", "daemon off;"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=child_setup(self.cpus),
        )
        self._wait_ready()
