#!/usr/bin/env python3
"""A real SMTP server on 127.0.0.1 for hookroute's SMTP tests: aiosmtpd's Controller with a handler
that prints each received message as one JSON line on stdout. Not a hand-written SMTP protocol.

    smtp_server.py --tls starttls|implicit|none [--cert C --key K] [--auth USER:PASSWORD [--only-login]]

Prints `READY <port>` once it listens. Recipients steer replies, for classification tests:
`later@…` gets 451 at RCPT (transient), `nobody@…` 550 (permanent), `flaky@…` 451 at DATA the
first time and 250 after (a retry). Stops when stdin closes.
"""
import argparse
import json
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self):
        self.flaky_seen = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local == "later":
            return "451 4.3.0 try again later"
        if local == "nobody":
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.content.decode("utf-8", errors="replace")
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": data,
            "tls": session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None,
            "auth": session.auth_data if isinstance(session.auth_data, str) else None,
        }
        flaky = [r for r in envelope.rcpt_tos if r.lower().startswith("flaky@")]
        key = data.split("Message-ID:", 1)[-1].split("\n", 1)[0].strip()
        if flaky and key not in self.flaky_seen:
            self.flaky_seen.add(key)
            record["refused"] = 451
            print(json.dumps(record), flush=True)
            return "451 4.3.0 temporary failure"
        print(json.dumps(record), flush=True)
        return "250 2.0.0 accepted"


def authenticator(expected):
    user, password = expected.split(":", 1)

    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        if ok:
            print(json.dumps({"auth_mechanism": mechanism}), flush=True)
            return AuthResult(success=True, auth_data=f"{mechanism}:{user}")
        return AuthResult(success=False, handled=False)

    return check


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tls", choices=["starttls", "implicit", "none"], default="none")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth")
    p.add_argument("--only-login", action="store_true", help="offer AUTH LOGIN but not PLAIN")
    a = p.parse_args()
    kwargs = {}
    context = None
    if a.tls != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.cert, a.key)
    if a.tls == "starttls":
        kwargs.update(tls_context=context, require_starttls=True)
    elif a.tls == "implicit":
        kwargs.update(ssl_context=context, server_hostname="127.0.0.1")
    if a.auth:
        # aiosmtpd only counts STARTTLS as TLS for AUTH; an implicit-TLS connection is TLS from the
        # first byte, so AUTH is offered there without it.
        kwargs.update(authenticator=authenticator(a.auth), auth_required=True, auth_require_tls=a.tls != "implicit")
        if a.only_login:
            kwargs.update(auth_exclude_mechanism=["PLAIN"])
    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print(f"READY {port}", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
