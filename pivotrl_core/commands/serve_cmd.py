"""``pivotrl serve``: an OpenAI-compatible chat-completions server backed by the hf policy."""

from __future__ import annotations

import click

from ..serve import create_server
from ._options import DEVICE, DTYPE, check_device, parse_kv

__all__ = ["COMMANDS"]


@click.command("serve")
@click.option("--model", required=True, help="Model name, folder or hub id (built-in: smollm2-135m).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address (loopback by default).")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port (0: a free one)."
)
@click.option("--device", default="cpu", show_default=True, type=DEVICE)
@click.option("--dtype", default="float32", show_default=True, type=DTYPE)
@click.option(
    "--context-rule", type=click.Choice(["truncate", "skip"]), default="truncate", show_default=True
)
@click.option("--served-name", default=None, help="Model name reported by /v1/models (default: --model).")
@click.option(
    "--policy-option", multiple=True, metavar="KEY=VALUE", help="Extra HFPolicy option (repeatable)."
)
@click.option("--verbose", is_flag=True, help="Log every request.")
def serve_command(
    model: str,
    host: str,
    port: int,
    device: str,
    dtype: str,
    context_rule: str,
    served_name: str | None,
    policy_option: tuple[str, ...],
    verbose: bool,
) -> None:
    """Serve MODEL on /v1/chat/completions and /v1/models until interrupted."""
    from ..policies.hf import HFPolicy

    check_device(device)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"Warning: binding to {host}: the server has no authentication", err=True)
    policy = HFPolicy(
        model,
        device=device,
        dtype=dtype,
        context_rule=context_rule,  # type: ignore[arg-type]
        **parse_kv(policy_option, flag="--policy-option", syntax="json"),
    )
    server = create_server(policy, host, port, verbose=verbose, model_name=served_name or model)
    h, p = server.server_address[:2]
    click.echo(f"serving {model} on http://{h}:{p}/v1 (Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


COMMANDS = [serve_command]
