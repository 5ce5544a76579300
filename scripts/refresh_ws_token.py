"""The seed's token refresh: `python scripts/refresh_ws_token.py --config config.yaml [--railway [--print]]`.
The logic is adapters/lighter/ws_token.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout without installing

from adapters.lighter.ws_token import main  # noqa: E402
from lighter_bot import load_config  # noqa: E402
from runtime.service.config import ConfigError  # noqa: E402


def lighter_config(path: Path):
    try:
        return load_config(path).venue.lighter
    except ConfigError as exc:
        from adapters.lighter.tool_rest import ToolError

        raise ToolError(f"{path}: {exc}") from None


raise SystemExit(main(lighter_config))
