"""`python -m wedraw.sandbox`: serve both sandbox hosts until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from wedraw.core.registry import get_service


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    spec = get_service("sandbox")
    parser = argparse.ArgumentParser(prog="python -m wedraw.sandbox", description="A local WeChat for WeDraw.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--official-port", type=int, default=spec.port, help="Official Account / Mini Program host")
    parser.add_argument("--wecom-port", type=int, default=spec.extra_ports[0], help="WeCom host")
    parser.add_argument("--fans", type=int, default=200, help="Official Account followers to seed")
    parser.add_argument("--members", type=int, default=100, help="WeCom members to seed")
    parser.add_argument("--departments", type=int, default=5, help="WeCom departments to seed (root included)")
    parser.add_argument("--seed", type=int, default=1, help="world seed: same seed, same openids and ids")
    parser.add_argument(
        "--callback-base",
        default="http://127.0.0.1:8080",
        help="where the demo accounts' callbacks go; '' for none (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    for name in ("fans", "members"):
        if getattr(args, name) < 0:
            parser.error(f"--{name} must not be negative")
    if args.departments < 1:
        parser.error("--departments must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from wedraw.core.config import load_settings
    from wedraw.sandbox.server import start_sandbox

    args = parse_args(argv)
    settings = load_settings()
    try:
        handle = start_sandbox(
            settings,
            official_port=args.official_port,
            wecom_port=args.wecom_port,
            host=args.host,
            fans=args.fans,
            members=args.members,
            departments=args.departments,
            seed=args.seed,
            callback_base=args.callback_base or None,
        )
    except OSError as exc:
        print(f"sandbox: cannot listen on {args.host}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    demo = handle.world.demo
    logging.getLogger("wedraw.sandbox").info(
        "WeChat sandbox ready: Official Account/Mini Program %s, WeCom %s (demo appid %s, corp %s)",
        handle.official_url,
        handle.wecom_url,
        demo.official.appid,
        demo.wecom.corp_id,
        extra={
            "fields": {
                "official_url": handle.official_url,
                "wecom_url": handle.wecom_url,
                "fans": args.fans,
                "members": args.members,
            }
        },
    )
    stop.wait()
    handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
