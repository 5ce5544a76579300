"""The seed's SOL regime analysis: `python scripts/regime_analysis.py --ledger FILE... --candles FILE...
[--report DIR] [--rules FILE] [--data FILE... --profile profiles/market_2.yaml]`, the same flags as
`lighter-bot analyze` (runtime/service/regimes/)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout without installing

from lighter_bot import cli  # noqa: E402

raise SystemExit(cli(["analyze", *sys.argv[1:]]))
